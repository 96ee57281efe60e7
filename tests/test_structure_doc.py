"""docs/structure.md must map every module of the repository (one line each), so the map
stays current: adding a module without a line here fails this test."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules() -> list[str]:
    found = []
    for base, patterns in (("python/paste", ["*.py"]), ("kernels", ["*.py"]),
                           ("csrc", ["*.cc", "*.h", "*.cu", "*.cuh"]), ("bench", ["*.py"])):
        for pattern in patterns:
            found += [p.relative_to(ROOT).as_posix() for p in (ROOT / base).rglob(pattern)]
    return sorted(p for p in found if "__pycache__" not in p)


def test_every_module_has_a_line_in_docs_structure():
    text = (ROOT / "docs" / "structure.md").read_text()
    missing = [m for m in modules() if f"`{m}`" not in text]
    assert missing == [], f"add these to docs/structure.md: {missing}"


def test_structure_doc_lists_no_removed_module():
    text = (ROOT / "docs" / "structure.md").read_text()
    listed = [part.split("`")[0] for part in text.split("`")[1::2]]
    stale = [p for p in text.split("`")[1::2]
             if "/" in p and p.endswith((".py", ".cc", ".h", ".cu", ".cuh"))
             and not (ROOT / p).exists()]
    assert listed and stale == []
