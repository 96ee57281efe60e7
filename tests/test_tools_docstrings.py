"""paste.tools.docstrings: summary and per-parameter descriptions from Google/NumPy docstrings."""

from paste.tools.docstrings import ParsedDocstring, parse_docstring


def test_google_style_args_with_types_and_continuation_lines():
    doc = """Fetch the forecast.

    Uses the public API.

    Args:
        city (str): City name,
            wrapped onto a second line.
        days: Number of days.
        **extra: Ignored.

    Returns:
        The forecast.
    """
    assert parse_docstring(doc) == ParsedDocstring(
        summary="Fetch the forecast.\n\nUses the public API.",
        params={
            "city": "City name, wrapped onto a second line.",
            "days": "Number of days.",
            "extra": "Ignored.",
        },
    )


def test_numpy_style_parameters_section():
    doc = """Fetch the forecast.

    Parameters
    ----------
    city : str
        City name,
        two lines.
    days : int

    Returns
    -------
    dict
        Never parsed as a parameter.
    """
    assert parse_docstring(doc) == ParsedDocstring(
        summary="Fetch the forecast.",
        params={"city": "City name, two lines.", "days": ""},
    )


def test_no_docstring_and_no_sections():
    assert parse_docstring(None) == ParsedDocstring("")
    assert parse_docstring("   ") == ParsedDocstring("")
    assert parse_docstring("Just a summary.\n\nMore words.") == ParsedDocstring(
        "Just a summary.\n\nMore words."
    )


def test_parameters_after_another_section_and_unknown_text_are_kept_apart():
    doc = """Summary.

    Raises:
        ValueError: when bad.

    Arguments:
        path: Where to read.
    """
    assert parse_docstring(doc) == ParsedDocstring("Summary.", {"path": "Where to read."})
