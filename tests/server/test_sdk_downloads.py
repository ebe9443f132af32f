"""The Python SDK wheel the server builds from its installed package, and the listing REST."""

from __future__ import annotations

import base64
import hashlib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from ilvb.server.sdk_downloads import build_wheel


def test_the_wheel_holds_the_package_and_a_record_that_verifies(tmp_path: Path) -> None:
    built = build_wheel(tmp_path)
    name = built.path.name
    assert name.startswith("ilvb-") and name.endswith(".whl")
    with zipfile.ZipFile(built.path) as zf:
        names = set(zf.namelist())
        assert {"ilvb/client/__init__.py", "ilvb/web/static/ilvb.js", "ilvb/py.typed"} <= names
        assert any(n.startswith("ilvb/sfu/fastpath/_fastpath") for n in names)  # compiled
        assert not any("__pycache__" in n or n.endswith((".pyc", ".o")) for n in names)
        (info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
        wheel_meta = zf.read(f"{info}/WHEEL").decode()
        assert f"Tag: {name[:-4].split('-', 2)[2]}" in wheel_meta
        assert "Root-Is-Purelib: false" in wheel_meta
        assert "Name: ilvb" in zf.read(f"{info}/METADATA").decode()
        record = zf.read(f"{info}/RECORD").decode().splitlines()
        assert {line.split(",")[0] for line in record} == names
        for line in record:
            path, digest, size = line.split(",")
            if path.endswith("RECORD"):
                continue
            data = zf.read(path)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={want}", len(data)), path
    mtime = built.path.stat().st_mtime_ns
    again = build_wheel(tmp_path)  # unchanged package: the same file, not rebuilt
    assert again == built and again.path.stat().st_mtime_ns == mtime
    assert hashlib.sha256(built.path.read_bytes()).hexdigest() == built.sha256


def test_the_listing_is_admin_only_and_the_files_are_public(
    make_app_env: Callable[..., Any], tmp_path: Path
) -> None:
    env = make_app_env(server={"data_dir": tmp_path})
    with TestClient(env.app) as client:
        assert client.get("/v1/sdk").status_code == 401
        listing = client.get("/v1/sdk", headers={"X-Admin-Key": env.admin_key}).json()
        wheel = listing["python"]
        assert (tmp_path / "sdk" / wheel["name"]).is_file()
        r = client.get(wheel["url"])
        assert r.status_code == 200 and hashlib.sha256(r.content).hexdigest() == wheel["sha256"]
        assert client.get("/downloads/ilvb-0-py3-none-any.whl").status_code == 404
        names = {f["name"] for f in listing["web"]["files"]}
        assert {"ilvb.js", "ilvb.d.ts", "client.js", "quality.js"} <= names
