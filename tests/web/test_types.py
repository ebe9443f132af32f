"""The Web SDK type-checks: ``tsc`` (TypeScript from npm, ``npm ci``) over its JSDoc and ilvb.d.ts.

``tsconfig.json`` checks every script under ``ilvb/web/static`` in strict mode (the pages see the
SDK through ``ilvb.d.ts``, as an app would) and ``tests/web/types/conformance.ts``, which fails
when a module's export does not match its declaration. The entry point's export list is compared
with the declarations here, since TypeScript reads ``ilvb.d.ts`` in place of ``ilvb.js``.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

from ilvb.errors import CODES

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "ilvb" / "web" / "static"
TSC = ROOT / "node_modules" / ".bin" / "tsc"


def _tsc() -> Path:
    if not TSC.is_file():
        message = f"{TSC} is missing: run `npm ci` in {ROOT} (scripts/test.sh does)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return TSC


def test_tsc_finds_no_type_error_in_the_sdk_its_pages_or_declarations() -> None:
    tsc = _tsc()
    done = subprocess.run(
        [str(tsc), "-p", str(ROOT / "tsconfig.json")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, "tsc found type errors:\n" + done.stdout + done.stderr


def _entry_exports() -> set[str]:
    text = (STATIC / "ilvb.js").read_text()
    names: set[str] = set()
    for group in re.findall(r"^export \{([^}]*)\} from \"\./ilvb/[a-z]+\.js\";$", text, re.M):
        names.update(n.strip() for n in group.split(",") if n.strip())
    other = [
        line
        for line in text.splitlines()
        if line.startswith("export ") and not re.match(r"^export \{[^}]*\} from ", line)
    ]
    assert not other, f"ilvb.js should only re-export from ./ilvb/*.js: {other}"
    return names


def _declared_values() -> set[str]:
    text = (STATIC / "ilvb.d.ts").read_text()
    return set(re.findall(r"^export declare (?:const|class|function) (\w+)", text, re.M))


def test_the_entry_point_exports_exactly_the_declared_values() -> None:
    exported, declared = _entry_exports(), _declared_values()
    assert exported, "no re-exports found in ilvb.js"
    assert exported == declared, (
        f"exported but not declared in ilvb.d.ts: {sorted(exported - declared)}; "
        f"declared but not exported by ilvb.js: {sorted(declared - exported)}"
    )


def test_every_code_of_the_web_sdks_table_is_in_the_error_table() -> None:
    text = (STATIC / "ilvb" / "errors.js").read_text()
    table = re.search(
        r"export const CLIENT_ERROR_CODES = Object\.freeze\(\{(.*?)\n\}\);", text, re.S
    )
    assert table, "CLIENT_ERROR_CODES not found in ilvb/errors.js"
    codes = re.findall(r"^\s+(\w+): \"", table.group(1), re.M)
    assert len(codes) >= 5, codes
    assert [code for code in codes if code not in CODES] == []


def test_ilvb_d_ts_error_codes_are_the_error_table() -> None:
    text = (STATIC / "ilvb.d.ts").read_text()
    declared: set[str] = set()
    for name in ("ClientErrorCode", "ServerErrorCode"):
        union = re.search(rf"^export type {name} =(.*?);$", text, re.M | re.S)
        assert union, f"{name} not found in ilvb.d.ts"
        declared.update(re.findall(r'"(\w+)"', union.group(1)))
    assert sorted(set(CODES) - declared) == [], "codes of ilvb/errors.py missing in ilvb.d.ts"
    assert sorted(declared - set(CODES)) == [], "codes in ilvb.d.ts missing in ilvb/errors.py"
