"""Tests of textkit.intervals."""

from textkit.intervals import merge_intervals, total_length


def test_merge_overlapping_and_touching():
    assert merge_intervals([(5, 7), (1, 3), (3, 4)]) == [(1, 4), (5, 7)]


def test_total_length():
    assert total_length([(0, 2), (1, 5), (8, 9)]) == 6
