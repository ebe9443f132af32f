"""Every error code and close code the server or an SDK can emit is in the one table
(``ilvb/errors.py``) and in ``docs/protocol.md``.

The codes are read from the sources, not from a list kept by hand:
- Python (``ilvb/**/*.py``): each construction of an :class:`~ilvb.errors.IlvbError` subclass
  (also subclasses defined outside ``errors.py``) with a literal code, ``code=`` literals, a
  class's ``default_code``, ``{"code": "..."}`` dict literals and the values of ``*_CODES``
  dicts; close codes are int literals 4000-4999 passed to a ``close(...)`` call.
- The Web SDK (``ilvb/web/static/**/*.js``): ``new IlvbError("code", …)`` and close-code
  literals (4000-4999) on lines that are not comments.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ilvb import errors

ROOT = Path(__file__).resolve().parent.parent
PROTOCOL_MD = ROOT / "docs" / "protocol.md"
ERROR_CLASSES = {
    name: cls
    for name, cls in vars(errors).items()
    if isinstance(cls, type) and issubclass(cls, errors.IlvbError)
}


@dataclass
class Found:
    """Codes found in sources: code -> where, plus the class each was raised with."""

    codes: dict[str, list[str]] = field(default_factory=dict)
    raised_as: dict[str, set[str]] = field(default_factory=dict)
    close_codes: dict[int, list[str]] = field(default_factory=dict)

    def code(self, code: str, where: str, cls: str | None = None) -> None:
        self.codes.setdefault(code, []).append(where)
        if cls is not None:
            self.raised_as.setdefault(code, set()).add(cls)

    def close(self, code: int, where: str) -> None:
        self.close_codes.setdefault(code, []).append(where)


def _is_close_code(node: ast.AST) -> bool:
    return isinstance(node, ast.Constant) and type(node.value) is int and 4000 <= node.value < 5000


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _error_classes(trees: dict[str, ast.Module]) -> set[str]:
    """The classes of ``ilvb.errors`` and every class (transitively) derived from one of them."""
    names = set(ERROR_CLASSES)
    while True:
        more = {
            node.name
            for tree in trees.values()
            for node in ast.walk(tree)
            if isinstance(node, ast.ClassDef)
            and any(_base_name(b) in names for b in node.bases)
            and node.name not in names
        }
        if not more:
            return names
        names |= more


def _base_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def scan_python(sources: dict[str, str]) -> Found:
    """The codes the Python modules ``sources`` (name -> text) can emit."""
    trees = {name: ast.parse(text, name) for name, text in sources.items()}
    classes = _error_classes(trees)
    found = Found()
    for name, tree in trees.items():
        for node in ast.walk(tree):
            where = f"{name}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call):
                called = _base_name(node.func)
                if called in classes:
                    literal = _str(node.args[0]) if node.args else None
                    if literal is not None:
                        found.code(literal, where, called)
                for kw in node.keywords:
                    if kw.arg == "code" and (literal := _str(kw.value)) is not None:
                        found.code(literal, where, called if called in classes else None)
                if called == "close":
                    for arg in [*node.args, *(kw.value for kw in node.keywords)]:
                        if _is_close_code(arg):
                            found.close(arg.value, where)  # type: ignore[attr-defined]
            elif isinstance(node, ast.ClassDef) and node.name in classes:
                for stmt in node.body:
                    target = stmt.target if isinstance(stmt, ast.AnnAssign) else None
                    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
                        target = stmt.targets[0]
                    if isinstance(target, ast.Name) and target.id == "default_code":
                        literal = _str(stmt.value)  # type: ignore[union-attr]
                        if literal is not None:
                            found.code(literal, f"{name}:{stmt.lineno}", node.name)
            elif isinstance(node, ast.Dict):
                for key, value in zip(node.keys, node.values, strict=True):
                    if _str(key) == "code" and (literal := _str(value)) is not None:
                        found.code(literal, where)
            elif isinstance(node, ast.Assign | ast.AnnAssign):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                named = [t.id for t in targets if isinstance(t, ast.Name)]
                if any(n.endswith("_CODES") for n in named) and isinstance(node.value, ast.Dict):
                    for value in node.value.values:
                        if (literal := _str(value)) is not None:
                            found.code(literal, where)
    return found


_JS_ERROR = re.compile(r"""new\s+IlvbError\(\s*(["'`])([A-Za-z0-9_]+)\1""")
_JS_CLOSE = re.compile(r"\b(4\d{3})\b")
_JS_COMMENT = re.compile(r"//.*$|/\*.*?\*/")


def scan_js(sources: dict[str, str]) -> Found:
    """The codes the Web SDK files ``sources`` (name -> text) can emit or expect."""
    found = Found()
    for name, text in sources.items():
        for lineno, line in enumerate(text.splitlines(), 1):
            code_part = _JS_COMMENT.sub("", line)
            for match in _JS_ERROR.finditer(code_part):
                found.code(match.group(2), f"{name}:{lineno}")
            if "close" in code_part.lower():
                for match in _JS_CLOSE.finditer(code_part):
                    found.close(int(match.group(1)), f"{name}:{lineno}")
    return found


def _section_rows(markdown: str, headings: tuple[str, ...]) -> list[list[str]]:
    """The cells of the table rows under these ``## `` headings."""
    rows, inside = [], False
    for line in markdown.splitlines():
        if line.startswith("## "):
            inside = line[3:].strip() in headings
        elif inside and line.startswith("| `"):
            rows.append([cell.strip() for cell in line.split("|")[1:-1]])
    return rows


def documented(markdown: str) -> tuple[set[str], set[int]]:
    """Codes and close codes in the first column of protocol.md's two code tables."""
    codes: set[str] = set()
    close_codes: set[int] = set()
    for cells in _section_rows(markdown, ("Error codes", "Close codes")):
        for token in re.findall(r"`([^`]+)`", cells[0]):
            if token.isdigit():
                close_codes.add(int(token))
            else:
                codes.add(token)
    return codes, close_codes


def _read(pattern: str) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text(encoding="utf-8")
        for path in sorted((ROOT / "ilvb").glob(pattern))
    }


def _product() -> tuple[Found, Found]:
    python = _read("**/*.py")
    table = "ilvb/errors.py"
    return scan_python({k: v for k, v in python.items() if k != table}), scan_js(
        _read("web/static/**/*.js")
    )


def _missing(found: dict, known: set | dict) -> list[str]:
    return [
        f"{code} ({', '.join(where[:3])})" for code, where in found.items() if code not in known
    ]


# -- the product -------------------------------------------------------------------------


def test_every_code_the_server_or_an_sdk_emits_is_in_the_error_table() -> None:
    python, js = _product()
    assert len(python.codes) > 20 and len(js.codes) > 5, "the scanner found the codes"
    assert _missing(python.codes, errors.CODES) == []
    assert _missing(js.codes, errors.CODES) == []


def test_every_code_in_the_error_table_is_documented_in_protocol_md() -> None:
    codes, close_codes = documented(PROTOCOL_MD.read_text(encoding="utf-8"))
    assert sorted(set(errors.CODES) - codes) == []
    assert sorted(codes - set(errors.CODES)) == [], "protocol.md lists codes the table lacks"
    assert sorted(set(errors.CLOSE_CODES) - close_codes) == []
    assert sorted(close_codes - set(errors.CLOSE_CODES)) == []


def test_every_close_code_the_server_or_web_sdk_uses_is_in_the_table() -> None:
    python, js = _product()
    assert _missing(python.close_codes, errors.CLOSE_CODES) == []
    assert _missing(js.close_codes, errors.CLOSE_CODES) == []
    assert js.close_codes, "the scanner found the Web SDK's close codes"
    assert set(errors.WS_CLOSE_CODES.values()) <= set(errors.CLOSE_CODES)


def test_close_codes_are_written_only_in_the_error_table() -> None:
    python, _ = _product()
    assert python.close_codes == {}, "use the CLOSE_* constants of ilvb.errors"


def test_each_code_is_raised_with_the_class_the_table_gives_it() -> None:
    python, _ = _product()
    classes = ERROR_CLASSES
    wrong = []
    for code, raised in python.raised_as.items():
        expected = errors.CODES.get(code)
        for name in raised:
            cls = classes.get(name)
            # A class defined elsewhere (ChannelClosed) is checked through its default_code.
            if cls is not None and expected is not None and cls is not expected:
                wrong.append(f"{code}: raised as {name}, the table says {expected.__name__}")
    assert wrong == []


def test_protocol_md_gives_each_code_the_http_status_of_its_class() -> None:
    rows = {
        code: int(cells[1])
        for cells in _section_rows(PROTOCOL_MD.read_text(encoding="utf-8"), ("Error codes",))
        for code in re.findall(r"`([a-z_]+)`", cells[0])
    }
    assert len(rows) == len(errors.CODES)
    wrong = {c: (s, errors.CODES[c].http_status) for c, s in rows.items()
             if c in errors.CODES and errors.CODES[c].http_status != s}  # fmt: skip
    assert wrong == {}


# -- the scanner itself can fail -----------------------------------------------------------


def test_python_scanner_finds_each_way_a_code_is_written() -> None:
    source = """
from ilvb.errors import InvalidArgument, Unavailable

class Gone(Unavailable):
    default_code = "gone_away"

class Later(Gone):
    pass

MY_CODES = {1: "mapped_code"}

def f(conn):
    raise InvalidArgument("bad_thing", "no")

def g():
    raise Later(code="later_code")

def h(conn):
    conn.close(4999, "bye")
    return {"code": "dict_code", "message": "m"}
"""
    found = scan_python({"m.py": source})
    assert set(found.codes) == {"gone_away", "mapped_code", "bad_thing", "later_code", "dict_code"}
    assert found.raised_as["bad_thing"] == {"InvalidArgument"}
    assert found.raised_as["later_code"] == {"Later"}
    assert set(found.close_codes) == {4999}
    assert _missing(found.codes, errors.CODES) != []


def test_js_scanner_finds_errors_and_close_codes_but_not_comments() -> None:
    source = """
const FINAL_CLOSE_CODES = [4400, 4998];
// new IlvbError("commented_out", "x") and close 4997
function f() { throw new IlvbError('made_up_code', `no ${x}`); }
const wait = 4000;
"""
    found = scan_js({"m.js": source})
    assert set(found.codes) == {"made_up_code"}
    assert set(found.close_codes) == {4400, 4998}


def test_documented_reads_codes_and_close_codes_from_table_rows() -> None:
    md = (
        "## Requests\n| `room.enter` | x |\n## Error codes\n| `a_code`, `b_code` | 400 | x |\n"
        "text `not_a_row`\n## Close codes\n| `4401` | y |\n## Other\n| `other` | z |\n"
    )
    assert documented(md) == ({"a_code", "b_code"}, {4401})


@pytest.mark.parametrize("code", sorted(errors.CODES))
def test_error_from_dict_rebuilds_each_code_as_its_class(code: str) -> None:
    error = errors.error_from_dict({"code": code, "message": "m"})
    assert type(error) is errors.CODES[code] and error.code == code


def test_each_error_class_default_code_is_in_the_table_with_that_class() -> None:
    # A construction without a code (InvalidArgument(message=...)) emits the default code.
    wrong = {
        name: cls.default_code
        for name, cls in ERROR_CLASSES.items()
        if errors.CODES.get(cls.default_code) is not cls
    }
    assert wrong == {}
