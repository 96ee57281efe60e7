"""Merging closed intervals (textkit sample repository)."""


def merge_intervals(intervals):
    """Merge overlapping or touching [start, end] intervals; the result is sorted."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [tuple(i) for i in merged]


def total_length(intervals):
    """Total length covered by the intervals."""
    return sum(end - start for start, end in merge_intervals(intervals))
