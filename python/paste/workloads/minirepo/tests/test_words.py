"""Tests of textkit.words."""

from textkit.words import top_words, word_count


def test_word_count():
    assert word_count("The cat, the hat.") == 4


def test_top_words_most_frequent_first():
    text = "b a b c b a"
    assert top_words(text, 2) == [("b", 3), ("a", 2)]
