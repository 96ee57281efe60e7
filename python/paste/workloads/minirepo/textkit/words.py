"""Word counting (textkit sample repository)."""

import re
from collections import Counter

WORD = re.compile(r"[a-z']+")


def words(text):
    """Lower-cased words of text."""
    return WORD.findall(text.lower())


def word_count(text):
    """Number of words in text."""
    return len(words(text))


def top_words(text, n=3):
    """The n most frequent words as (word, count), most frequent first, ties alphabetical."""
    counts = Counter(words(text))
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
