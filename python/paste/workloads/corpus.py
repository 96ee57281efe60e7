"""Document corpus of the research workload, built deterministically from the stdlib's docstrings.

Each document is one public module of the running interpreter's standard library: the module
docstring followed by the docstrings of its public top-level classes and functions, read from
the source with `ast` (nothing is imported, so no module runs). Modules are the top-level
`.py` files and packages of `sysconfig.get_paths()["stdlib"]`, skipping private names (`_x`),
test and IDE packages, and documents shorter than `min_chars`. Document ids are the module
names, so a document's URL on the corpus server is `/page/<module>`. The corpus depends only
on the Python version; for a given interpreter it is the same on every run.
"""

from __future__ import annotations

import ast
import functools
import sysconfig
from dataclasses import dataclass
from pathlib import Path

SKIPPED = frozenset({"test", "idlelib", "tkinter", "turtledemo", "lib2to3", "ensurepip",
                     "antigravity", "this", "site-packages", "venv", "pydoc_data"})
MAX_DOC_CHARS = 4000  # each document keeps its first MAX_DOC_CHARS characters


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str


def module_text(source: str) -> str:
    """Module docstring + `name: first paragraph` of each public top-level def and class."""
    tree = ast.parse(source)
    parts = [ast.get_docstring(tree) or ""]
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            doc = ast.get_docstring(node)
            if doc and not node.name.startswith("_"):
                parts.append(f"{node.name}: {doc.split(chr(10) + chr(10))[0]}")
    return "\n\n".join(p.strip() for p in parts if p.strip())[:MAX_DOC_CHARS]


def _sources(root: Path) -> list[tuple[str, Path]]:
    out = []
    for path in sorted(root.iterdir()):
        name = path.stem if path.suffix == ".py" else path.name
        if name.startswith("_") or name in SKIPPED or "-" in name:
            continue
        if path.suffix == ".py" and path.is_file():
            out.append((name, path))
        elif path.is_dir() and (path / "__init__.py").is_file():
            out.append((name, path / "__init__.py"))
    return out


@functools.lru_cache(maxsize=4)
def stdlib_corpus(min_chars: int = 400, root: str | None = None) -> tuple[Document, ...]:
    """The corpus (module docstring), sorted by module name; cached per process."""
    base = Path(root) if root is not None else Path(sysconfig.get_paths()["stdlib"])
    docs = []
    for name, path in _sources(base):
        try:
            text = module_text(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        if len(text) >= min_chars:
            docs.append(Document(name, f"{name} (Python standard library)", text))
    return tuple(docs)
