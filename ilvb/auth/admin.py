"""The admin key: one server-wide credential for the management endpoints (apps, rooms).

Generated on the server's first start (:func:`ensure_admin_key`) and written once to the file
``admin-key`` in the data directory (mode 0600, :func:`save_admin_key`; the CLI prints the
file's path, never the key, so it stays out of service logs). The store keeps only
``sha256:<hex>`` of it. The key has 256 bits of entropy,
so a plain SHA-256 is enough (no password stretching needed); checks use a constant-time compare.

Clients send it as ``Authorization: Bearer <key>`` or ``X-Admin-Key: <key>``; without a valid one
every management endpoint answers 401 ``admin_key_required``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from ilvb.errors import Unauthenticated
from ilvb.store.files import secure_dir, write_private_file
from ilvb.store.interfaces import AppStore

HASH_PREFIX = "sha256:"
ADMIN_KEY_FILE = "admin-key"
ADMIN_HEADER = "X-Admin-Key"
# Longest credential looked at; anything longer cannot be a key we issued.
MAX_KEY_CHARS = 256

# Declared for OpenAPI (both schemes are accepted); auto_error=False so we answer with our code.
_bearer = HTTPBearer(auto_error=False, description="The admin key as a bearer token.")
_header = APIKeyHeader(name=ADMIN_HEADER, auto_error=False, description="The admin key.")


def new_admin_key() -> str:
    """A fresh admin key (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def hash_admin_key(key: str) -> str:
    """The stored form of a key: ``sha256:<hex digest>``."""
    return HASH_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()


def check_admin_key(key: str | None, stored_hash: str | None) -> bool:
    """True if ``key`` matches ``stored_hash`` (constant-time); False for anything missing."""
    if not key or not stored_hash or len(key) > MAX_KEY_CHARS:
        return False
    return hmac.compare_digest(hash_admin_key(key).encode(), stored_hash.encode())


async def ensure_admin_key(store: AppStore) -> str | None:
    """Create and store an admin key if there is none; return it only when just created."""
    if await store.get_admin_key_hash() is not None:
        return None
    key = new_admin_key()
    await store.set_admin_key_hash(hash_admin_key(key))
    return key


async def reset_admin_key(store: AppStore) -> str:
    """Replace the admin key (the old one stops working at once); return the new key."""
    key = new_admin_key()
    await store.set_admin_key_hash(hash_admin_key(key))
    return key


def save_admin_key(data_dir: Path, key: str) -> Path:
    """Write ``key`` to ``data_dir/admin-key`` (directory 0700, file 0600); returns the path."""
    return write_private_file(secure_dir(data_dir) / ADMIN_KEY_FILE, key + "\n").resolve()


def presented_admin_key(request: Request) -> str | None:
    """The admin key a request carries (``X-Admin-Key`` first, then a bearer token), or None."""
    key = request.headers.get(ADMIN_HEADER)
    if key:
        return key.strip()
    auth = request.headers.get("authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


async def authenticate_admin(request: Request) -> None:
    """Raise Unauthenticated('admin_key_required') unless the request carries the admin key.

    The result is remembered on ``request.state`` so a route checks the store only once.
    """
    if getattr(request.state, "admin", False):
        return
    store: AppStore = request.app.state.store
    if not check_admin_key(presented_admin_key(request), await store.get_admin_key_hash()):
        raise Unauthenticated(
            "admin_key_required",
            f"this endpoint needs the admin key (Authorization: Bearer … or {ADMIN_HEADER})",
        )
    request.state.admin = True


async def require_admin(
    request: Request,
    _bearer_credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)] = None,
    _header_key: Annotated[str | None, Depends(_header)] = None,
) -> None:
    """FastAPI dependency: the request must carry the admin key (see module docstring)."""
    await authenticate_admin(request)
