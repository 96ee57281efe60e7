"""Tests of textkit.stats."""

import pytest
from textkit.stats import mean, median, variance


def test_mean():
    assert mean([1, 2, 3, 4]) == 2.5


def test_median_odd_and_even():
    assert median([3, 1, 2]) == 2
    assert median([4, 1, 3, 2]) == 2.5


def test_variance_is_sample_variance():
    assert variance([1, 2, 3, 4]) == pytest.approx(5 / 3)


def test_empty_inputs_raise():
    with pytest.raises(ValueError):
        mean([])
    with pytest.raises(ValueError):
        variance([1])
