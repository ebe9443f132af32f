"""Import rules between ilvb's packages, and no import cycle among its modules.

Read from the sources with ``ast`` (nothing is imported). An edge is an ``import`` or
``from … import`` of an ``ilvb`` module:
- for the package rules, every import counts, wherever it is written (inside a function too);
- for cycles, only imports that run when the module is loaded: module level, including inside
  ``try``/``if`` at module level, but not under ``if TYPE_CHECKING:`` (annotations only) and not
  inside functions or classes' methods (run later, after every module is loaded).
``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``.

Each package's rule is stated in the docstring of its ``__init__``; a test checks the two agree.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# package -> the ilvb packages it may import (top-level modules count as packages). Nothing
# imports the entry points (cli, __main__). Everything else is forbidden.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": {"errors"},
    "sfu": {"errors", "config"},
    "client": {"errors"},
    "store": {"errors", "billing", "quality", "recording", "webhooks"},
    "auth": {"errors", "store"},
    "billing": {"errors", "config"},
    "quality": {"errors"},
    "rooms": {"errors", "config", "auth", "store", "sfu"},
    "webhooks": {"errors", "config", "rooms"},
    "cluster": {"errors", "config", "rooms"},
    "server": {
        "errors",
        "config",
        "auth",
        "store",
        "rooms",
        "sfu",
        "billing",
        "quality",
        "live",
        "recording",
        "metrics",
        "webhooks",
        "cluster",
    },
    "live": {"errors", "config", "rooms", "sfu"},
    "recording": {"errors", "config", "rooms", "sfu"},
    "metrics": {"errors", "config", "rooms", "sfu"},
    "web": set(),
}
# The rules every package docstring must state in words (the planes' contract).
MUST_NOT: dict[str, set[str]] = {
    "sfu": {"rooms", "server"},
    "client": {"server", "rooms", "sfu"},
    "rooms": {"server"},
    "billing": {"server", "rooms", "sfu"},
    "quality": {"server", "rooms", "sfu"},
    "live": {"server", "client"},
    "recording": {"server", "store"},
    "metrics": {"server"},
    "webhooks": {"server", "sfu"},
    "cluster": {"server", "sfu"},
}
PACKAGES = {"errors", "config", "cli", "__main__", *ALLOWED}
RULES: dict[str, set[str]] = {p: PACKAGES - ALLOWED[p] - {p} for p in ALLOWED}


@dataclass(frozen=True)
class Import:
    """``module`` imports ``target`` at ``line``; ``at_load`` when it runs as the module loads."""

    module: str
    target: str
    line: int
    at_load: bool


def module_names(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` under ``root / package``."""
    names = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(body: list[ast.stmt], at_load: bool) -> Iterator[tuple[ast.stmt, bool]]:
    """Every import statement in ``body``, with whether it runs at module load."""
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, at_load
        elif isinstance(node, ast.If):
            yield from _walk(node.body, at_load and not _is_type_checking(node.test))
            yield from _walk(node.orelse, at_load)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody):
                yield from _walk(block, at_load)
            for handler in node.handlers:
                yield from _walk(handler.body, at_load)
        elif isinstance(node, ast.With):
            yield from _walk(node.body, at_load)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # A class body runs at load, but its methods do not.
            yield from _walk(node.body, at_load and isinstance(node, ast.ClassDef))
        else:
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.stmt):
                    yield from _walk([child], False)


def imports(root: Path, package: str) -> list[Import]:
    """Every import of a ``package`` module by a ``package`` module."""
    modules = module_names(root, package)
    found = []
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, at_load in _walk(tree.body, True):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                assert isinstance(node, ast.ImportFrom)
                base = node.module or ""
                if node.level:
                    here = name.split(".") if is_package else name.split(".")[:-1]
                    up = here[: len(here) - (node.level - 1)]
                    base = ".".join([*up, base] if base else up)
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                if target == package or target.startswith(package + "."):
                    while target not in modules and "." in target:
                        target = target.rsplit(".", 1)[0]  # a name inside a module
                    found.append(Import(name, target, node.lineno, at_load))
    return found


def _top(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def forbidden(found: list[Import], rules: dict[str, set[str]]) -> list[str]:
    """The imports that break ``rules`` (by the second component of each dotted name)."""
    return [
        f"{i.module}:{i.line} imports {i.target}"
        for i in found
        if _top(i.target) in rules.get(_top(i.module), set())
    ]


def cycles(found: list[Import]) -> list[list[str]]:
    """The import cycles among modules loaded together (strongly connected components > 1)."""
    graph: dict[str, set[str]] = {}
    for i in found:
        if i.at_load and i.module != i.target:
            graph.setdefault(i.module, set()).add(i.target)
            graph.setdefault(i.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


# -- the product -------------------------------------------------------------------------


def test_no_package_imports_what_its_rules_forbid() -> None:
    found = imports(ROOT, "ilvb")
    assert len(found) > 100, "the checker found ilvb's imports"
    assert forbidden(found, RULES) == []


def test_no_import_cycle_among_ilvb_modules() -> None:
    assert cycles(imports(ROOT, "ilvb")) == []


def test_each_package_docstring_names_what_it_may_and_must_not_import() -> None:
    wrong = {}
    for package in ALLOWED:
        path = ROOT / "ilvb" / package / "__init__.py"
        if not path.exists():
            path = ROOT / "ilvb" / f"{package}.py"
        doc = " ".join(
            (ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or "").split()
        )
        named = ALLOWED[package] | MUST_NOT.get(package, set())
        absent = sorted(p for p in named if f"ilvb.{p}``" not in doc)
        if not ALLOWED[package] and "no other ilvb module" not in doc:
            absent.append("(no other ilvb module)")
        if "must not import" not in doc.lower() or absent:
            wrong[package] = absent
    assert wrong == {}


def test_every_package_has_a_rule() -> None:
    packages = {p.parent.name for p in (ROOT / "ilvb").glob("*/__init__.py")}
    modules = {p.stem for p in (ROOT / "ilvb").glob("*.py")} - {"__init__"}
    assert packages | modules == PACKAGES


# -- the checker itself can fail -----------------------------------------------------------


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_checker_reports_a_forbidden_import_wherever_it_is_written(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "ilvb/__init__.py": "",
            "ilvb/sfu/__init__.py": "",
            "ilvb/sfu/router.py": "def f():\n    from ilvb.rooms.room import Room\n",
            "ilvb/sfu/ok.py": "from ilvb.errors import X\n",
            "ilvb/rooms/__init__.py": "",
            "ilvb/rooms/room.py": "from ..server import app\n",
            "ilvb/server/__init__.py": "",
            "ilvb/server/app.py": "import ilvb.rooms.room\n",
            "ilvb/client/__init__.py": "from ilvb.sfu import router\n",
            "ilvb/errors.py": "",
        },
    )
    found = imports(tmp_path, "ilvb")
    assert sorted(forbidden(found, RULES)) == [
        "ilvb.client:1 imports ilvb.sfu.router",
        "ilvb.rooms.room:1 imports ilvb.server.app",
        "ilvb.sfu.router:2 imports ilvb.rooms.room",
    ]


def test_checker_finds_a_cycle_but_not_through_type_checking_or_functions(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        {
            "ilvb/__init__.py": "",
            "ilvb/a.py": "from ilvb import b\n",
            "ilvb/b.py": "try:\n    from ilvb.c import thing\nexcept ImportError:\n    pass\n",
            "ilvb/c.py": "import ilvb.a\n",
            "ilvb/d.py": "import typing\nif typing.TYPE_CHECKING:\n    from ilvb import e\n",
            "ilvb/e.py": "from ilvb.d import x\ndef later():\n    from ilvb import a\n",
        },
    )
    assert cycles(imports(tmp_path, "ilvb")) == [["ilvb.a", "ilvb.b", "ilvb.c"]]
