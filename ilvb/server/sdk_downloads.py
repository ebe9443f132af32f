"""SDK downloads: the Web SDK's files and a Python SDK wheel.

The wheel is built on first request from the *installed* package (its files and its
``METADATA``, as imported, so an editable install and a site-packages install both work; no
source tree, compiler or network needed) and kept under ``<data dir>/sdk/``; the C fast path's
compiled module is included, so the wheel is tagged for this interpreter and platform. Listing
is admin-only (``GET /v1/sdk``, what the console's downloads page shows); the files themselves
are public like the Web SDK at ``/sdk``.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import importlib.metadata
import io
import os
import re
import sys
import sysconfig
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse

import ilvb
from ilvb.auth.admin import require_admin
from ilvb.errors import NotFound
from ilvb.server.rest_errors import error_responses

PACKAGE_DIR = Path(ilvb.__file__).resolve().parent
WEB_SDK_DIR = PACKAGE_DIR / "web" / "static"
# What an installed ilvb holds besides its modules (pyproject's package-data, compiled modules).
_SKIP_DIRS = {"__pycache__"}
_SKIP_SUFFIXES = {".pyc", ".pyo", ".o", ".c", ".h"}


@dataclass(frozen=True)
class Built:
    """A built download: its file, size and SHA-256 (hex)."""

    path: Path
    size: int
    sha256: str


def _package_files(root: Path) -> list[Path]:
    out = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in _SKIP_DIRS and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix not in _SKIP_SUFFIXES and not name.startswith("."):
                out.append(path)
    return out


def _has_compiled_modules(files: list[Path]) -> bool:
    return any(p.suffix in (".so", ".pyd") for p in files)


def wheel_tag(compiled: bool) -> str:
    """``py3-none-any`` for pure Python, else this interpreter's ``cpXY-cpXY-platform``."""
    if not compiled:
        return "py3-none-any"
    py = f"cp{sys.version_info.major}{sys.version_info.minor}"
    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return f"{py}-{py}-{platform}"


def _distribution() -> importlib.metadata.Distribution | None:
    try:
        return importlib.metadata.distribution("ilvb")
    except importlib.metadata.PackageNotFoundError:
        return None


def _version(dist: importlib.metadata.Distribution | None) -> str:
    return dist.version if dist is not None else "0.0.0"


def _record_line(name: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata(dist: importlib.metadata.Distribution | None, version: str) -> str:
    text = dist.read_text("METADATA") if dist is not None else None
    return text or f"Metadata-Version: 2.1\nName: ilvb\nVersion: {version}\n"


def build_wheel(out_dir: Path) -> Built:
    """The wheel of the installed package in ``out_dir``, built again only when the package's
    files changed (their names, sizes and times are stamped beside it)."""
    dist = _distribution()
    version = _version(dist)
    files = _package_files(PACKAGE_DIR)
    tag = wheel_tag(_has_compiled_modules(files))
    path = out_dir / f"ilvb-{version}-{tag}.whl"
    stamp = path.with_suffix(".stamp")
    state = hashlib.sha256(
        "\n".join(f"{p}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in files).encode()
    ).hexdigest()
    if not path.is_file() or not stamp.is_file() or stamp.read_text() != state:
        out_dir.mkdir(parents=True, exist_ok=True)
        info = f"ilvb-{version}.dist-info"
        purelib = tag == "py3-none-any"
        extra = {
            f"{info}/METADATA": _metadata(dist, version).encode(),
            f"{info}/WHEEL": (
                "Wheel-Version: 1.0\nGenerator: ilvb.server.sdk_downloads\n"
                f"Root-Is-Purelib: {'true' if purelib else 'false'}\nTag: {tag}\n"
            ).encode(),
            f"{info}/entry_points.txt": (
                (dist.read_text("entry_points.txt") if dist is not None else None)
                or "[console_scripts]\nilvb = ilvb.cli:main\n"
            ).encode(),
            f"{info}/top_level.txt": b"ilvb\n",
        }
        buffer = io.BytesIO()
        record: list[str] = []
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
            for file in files:
                name = "ilvb/" + file.relative_to(PACKAGE_DIR).as_posix()
                data = file.read_bytes()
                zf.writestr(name, data)
                record.append(_record_line(name, data))
            for name, data in extra.items():
                zf.writestr(name, data)
                record.append(_record_line(name, data))
            record.append(f"{info}/RECORD,,")
            zf.writestr(f"{info}/RECORD", "\n".join(record) + "\n")
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(buffer.getvalue())
        os.replace(tmp, path)  # a reader never sees half a wheel
        stamp.write_text(state)
    data = path.read_bytes()
    return Built(path, len(data), hashlib.sha256(data).hexdigest())


def web_sdk_files() -> list[Path]:
    """The Web SDK: the entry module, its TypeScript declarations and the modules it loads."""
    return [WEB_SDK_DIR / "ilvb.js", WEB_SDK_DIR / "ilvb.d.ts"] + sorted(
        (WEB_SDK_DIR / "ilvb").glob("*.js")
    )


def _describe(path: Path, url: str) -> dict[str, Any]:
    data = path.read_bytes()
    return {
        "name": path.name,
        "url": url,
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }


router = APIRouter(tags=["SDK downloads"])
_LIST_ERRORS = error_responses({401: "admin_key_required"})


def _sdk_dir(request: Request) -> Path:
    return Path(request.app.state.settings.server.data_dir) / "sdk"


@router.get("/v1/sdk", dependencies=[Depends(require_admin)], responses=_LIST_ERRORS)
async def list_sdk(request: Request) -> dict[str, Any]:
    """What can be downloaded: the Web SDK's files (served at ``/sdk``) and the Python SDK wheel
    (built from the installed package on first request)."""
    wheel = await asyncio.to_thread(build_wheel, _sdk_dir(request))
    web = [_describe(p, "/sdk/" + p.relative_to(WEB_SDK_DIR).as_posix()) for p in web_sdk_files()]
    return {
        "version": _version(_distribution()),
        "web": {"entry": "/sdk/ilvb.js", "files": web},
        "python": {
            "name": wheel.path.name,
            "url": f"/downloads/{wheel.path.name}",
            "size": wheel.size,
            "sha256": wheel.sha256,
            "install": f"pip install {wheel.path.name}",
        },
    }


@router.get("/downloads/{name}", include_in_schema=False)
async def download(request: Request, name: str) -> FileResponse:
    """A built download (the wheel) by its file name."""
    wheel = await asyncio.to_thread(build_wheel, _sdk_dir(request))
    if name != wheel.path.name:
        raise NotFound(message=f"no download {name!r}")
    return FileResponse(wheel.path, media_type="application/zip", filename=name)
