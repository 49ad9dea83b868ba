"""The page's JSDoc types (frontend_static/*.js, which stand in for TypeScript): each is defined once,
and every `import("./x.js").Name` names a type that x.js defines."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

STATIC = Path(__file__).resolve().parents[2] / "frontend_static"
TYPEDEF = re.compile(r"@typedef\s+(?:\{.*?\}\s+)?(\w+)")
CLASS = re.compile(r"^export class (\w+)", re.MULTILINE)
IMPORTED = re.compile(r"""import\(["']\./([\w.]+\.js)["']\)\.(\w+)""")


def typedefs(path: Path) -> list[str]:
    return TYPEDEF.findall(path.read_text())


def types(path: Path) -> list[str]:
    """The types a module offers: its typedefs and exported classes."""
    return typedefs(path) + CLASS.findall(path.read_text())


def test_each_type_of_the_page_is_defined_once():
    counts = Counter(name for path in STATIC.glob("*.js") for name in typedefs(path)
                     if not _is_alias(path, name))
    assert [name for name, count in counts.items() if count > 1] == []


def test_every_imported_type_is_defined_where_it_is_imported_from():
    missing = [f"{path.name}: {module}.{name}" for path in STATIC.glob("*.js")
               for module, name in IMPORTED.findall(path.read_text())
               if name not in types(STATIC / module)]
    assert missing == []


def _is_alias(path: Path, name: str) -> bool:
    """`@typedef {import("./x.js").Name} Name`: a file's local name for a type defined elsewhere."""
    return re.search(rf"""@typedef\s+\{{import\(["']\./[\w.]+\.js["']\)\.{name}\}}\s+{name}\b""",
                     path.read_text()) is not None
