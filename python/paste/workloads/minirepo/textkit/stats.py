"""Summary statistics of a list of numbers (textkit sample repository)."""


def mean(values):
    """Arithmetic mean; raises ValueError on an empty list."""
    if not values:
        raise ValueError("mean of an empty list")
    return sum(values) / len(values)


def median(values):
    """Middle value; the mean of the two middle values for an even count."""
    if not values:
        raise ValueError("median of an empty list")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2


def variance(values):
    """Sample variance (divides by n - 1); needs at least two values."""
    if len(values) < 2:
        raise ValueError("variance needs at least two values")
    m = mean(values)
    total = sum((v - m) ** 2 for v in values)
    return total / len(values)
