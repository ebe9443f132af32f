"""The HTTP guard: an ASGI middleware in front of the FastAPI routes (docs/security.md, "HTTP").

For every HTTP request it:

1. answers ``OPTIONS`` on an API path itself with every method the path accepts (``Allow``, from
   the OpenAPI schema), and gives a 405 the same complete ``Allow`` header (the router would
   name only the first matching route's methods);
2. when the request carries a body, checks the caller's credentials *before* reading a byte of
   it (``authenticate``; FastAPI would parse the whole body first), then refuses a declared
   ``Content-Length`` over ``max_body_bytes`` at once and reads a streamed (chunked) body only up
   to that cap: both are ``body_too_large`` (413). A refused body is never read, so the reply
   says ``Connection: close``;
3. adds the security headers to every reply (CSP, framing, sniffing, referrer), and
   ``Cache-Control: no-store`` to JSON replies (they carry app secrets and tickets).

WebSocket and lifespan traffic passes through untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from starlette.datastructures import Headers, MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ilvb.errors import BodyTooLarge, IlvbError, InvalidArgument, NotFound

# Default cap of a request body (server.max_body_bytes).
DEFAULT_MAX_BODY_BYTES = 1024 * 1024

# Pages load scripts, styles, images and connections from this origin only (a page's own inline
# scripts are allowed by their hashes, see `inline_script_hashes`); styles may also be inline
# (precall.html has a <style> block, the SDK sets style attributes); nothing may frame them.
# Media elements play MediaStreams (srcObject, no URL fetch) and blob: URLs.
CSP_TEMPLATE = (
    "default-src 'self'; script-src 'self'{scripts}; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; media-src 'self' blob: mediastream:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
CONTENT_SECURITY_POLICY = CSP_TEMPLATE.format(scripts="")
SECURITY_HEADERS: tuple[tuple[str, str], ...] = (
    ("x-frame-options", "DENY"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
)

Authenticate = Callable[[Request], Awaitable[None]]
_INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc\s*=)[^>]*>(.*?)</script\s*>", re.S | re.I)


def inline_script_hashes(html: str) -> list[str]:
    """CSP sources (``'sha256-…'``) allowing exactly the inline ``<script>`` blocks of a page."""
    return [
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]


def content_security_policy(script_sources: Sequence[str] = ()) -> str:
    """The policy, with extra ``script-src`` sources (a page's inline script hashes)."""
    return CSP_TEMPLATE.format(scripts="".join(" " + src for src in script_sources))


class HttpGuard:
    """ASGI middleware: pre-body authentication, the body cap, OPTIONS/Allow, security headers."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        authenticate: Authenticate | None = None,
        page_scripts: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        """``page_scripts``: URL path -> inline script hashes of the page served there."""
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.authenticate = authenticate
        self._policies = {
            path: content_security_policy(sources)
            for path, sources in (page_scripts or {}).items()
            if sources
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = self._policies.get(scope["path"], CONTENT_SECURITY_POLICY)
        send = _with_security_headers(scope, send, policy)
        if scope["method"] == "OPTIONS":
            await _options(scope, send)
            return
        headers = Headers(scope=scope)
        if _has_body(headers):
            try:
                body = await self._checked_body(scope, headers, receive)
            except IlvbError as exc:
                await _refuse(send, exc, close=True)
                return
            if body is None:
                return  # the client went away (or timed out) before its body was in
            receive = _replay(body, receive)
        await self.app(scope, receive, send)

    async def _checked_body(
        self, scope: Scope, headers: Headers, receive: Receive
    ) -> bytes | None:
        """Credentials first, then the declared length, then the body read up to the cap.

        None when the connection ended before the whole body arrived.
        """
        if self.authenticate is not None:
            await self.authenticate(Request(scope))
        declared = headers.get("content-length")
        if declared is not None:
            if not (declared.isascii() and declared.isdigit()):
                raise InvalidArgument(message="Content-Length is not a number")
            if int(declared) > self.max_body_bytes:
                raise self._too_large()
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise self._too_large()
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    def _too_large(self) -> BodyTooLarge:
        return BodyTooLarge(
            message=f"request bodies are limited to {self.max_body_bytes} bytes"
        )


def _has_body(headers: Headers) -> bool:
    # HTTP/1.1 framing (RFC 9112 §6.3): a body exists only with Transfer-Encoding or a
    # non-zero Content-Length.
    return "transfer-encoding" in headers or headers.get("content-length", "0") not in ("", "0")


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that yields the already-read body once, then defers to the server's."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def _with_security_headers(scope: Scope, send: Send, policy: str) -> Send:
    async def send_with_headers(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in (("content-security-policy", policy), *SECURITY_HEADERS):
                if name not in headers:
                    headers.append(name, value)
            content_type = headers.get("content-type", "")
            if content_type.startswith("application/json") and "cache-control" not in headers:
                headers.append("cache-control", "no-store")
            if message["status"] == 405:
                allowed = _allowed_methods(scope)
                if allowed != ["OPTIONS"]:
                    headers["allow"] = ", ".join(allowed)
        await send(message)

    return send_with_headers


def _allowed_methods(scope: Scope) -> list[str]:
    """Every method the API accepts on this path (from the OpenAPI schema), plus OPTIONS.

    Only ``["OPTIONS"]`` for a path outside the schema (pages, static files).
    """
    app = scope.get("app")
    schema_of = getattr(app, "openapi", None)
    methods: set[str] = {"OPTIONS"}
    if schema_of is None:
        return sorted(methods)
    for pattern, path_methods in _path_table(schema_of()):
        if pattern.fullmatch(scope["path"]):
            methods |= path_methods
    return sorted(methods)


_HTTP_METHODS = frozenset({"get", "put", "post", "delete", "patch", "head", "trace"})
_tables: dict[int, list[tuple[re.Pattern[str], set[str]]]] = {}


def _path_table(schema: dict[str, Any]) -> list[tuple[re.Pattern[str], set[str]]]:
    """``(path regex, methods)`` per OpenAPI path template, compiled once per schema."""
    table = _tables.get(id(schema))
    if table is None:
        table = []
        for template, operations in schema.get("paths", {}).items():
            parts = re.split(r"(\{[^}]+\})", template)
            regex = "".join("[^/]+" if p.startswith("{") else re.escape(p) for p in parts)
            methods = {m.upper() for m in operations if m in _HTTP_METHODS}
            table.append((re.compile(regex), methods))
        _tables.clear()
        _tables[id(schema)] = table
    return table


async def _options(scope: Scope, send: Send) -> None:
    methods = _allowed_methods(scope)
    if methods == ["OPTIONS"]:
        await _refuse(send, NotFound(message="no API endpoint at this path"))
        return
    await send(
        {
            "type": "http.response.start",
            "status": 204,
            "headers": [(b"allow", ", ".join(methods).encode())],
        }
    )
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, error: IlvbError, *, close: bool = False) -> None:
    body = json.dumps({"error": error.to_dict()}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send(
        {"type": "http.response.start", "status": error.http_status, "headers": headers}
    )
    await send({"type": "http.response.body", "body": body})
