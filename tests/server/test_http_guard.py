"""The HTTP guard against a real ``ilvb serve``: credentials before the body, the body cap.

Each test streams a 50 MiB body the way an attacker would (chunked, or with the length declared
up front) and samples the server process's RSS while it does: a refused body must not be read.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server.serve_process import MiB, PeakRss, Served, serve, stream_request

ATTACK_BYTES = 50 * MiB
# Allowed RSS growth of the server while a refused 50 MiB body streams in.
RSS_BUDGET = 4 * MiB


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with serve(tmp_path_factory.mktemp("data"), "--demo") as s:
        yield s


def _attack(served: Served, path: str, headers: dict[str, str], chunked: bool) -> tuple[int, str]:
    """Stream 50 MiB to ``path``; return (status, error code) and check the RSS budget."""
    with PeakRss(served.pid) as rss:
        result = stream_request(
            served.port, "POST", path, {"Content-Type": "application/json", **headers},
            total=ATTACK_BYTES, chunked=chunked,
        )  # fmt: skip
    assert result.status is not None, f"no response (sent {result.sent} bytes)"
    assert rss.growth < RSS_BUDGET, f"server RSS grew by {rss.growth / MiB:.1f} MiB"
    assert b"connection: close" in result.head.lower(), "an unread body ends the connection"
    return result.status, json.loads(result.body)["error"]["code"]


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_unauthenticated_50_mib_body_is_refused_before_it_is_read(
    served: Served, chunked: bool
) -> None:
    assert _attack(served, "/v1/apps", {}, chunked) == (401, "admin_key_required")
    assert _attack(served, "/v1/apps/app_x/rooms/r/members/u/permissions", {}, chunked) == (
        401,
        "app_signature_required",
    )
    wrong = {"Authorization": "Bearer a.b.c"}
    assert _attack(served, "/v1/apps/app_x/rooms/r/members/u/permissions", wrong, chunked) == (
        401,
        "app_signature_required",
    )


@pytest.mark.parametrize("chunked", [True, False], ids=["chunked", "content-length"])
def test_authenticated_body_over_the_cap_is_413_body_too_large(
    served: Served, chunked: bool
) -> None:
    admin = {"X-Admin-Key": served.admin_key}
    assert _attack(served, "/v1/apps", admin, chunked) == (413, "body_too_large")
    # An open endpoint (the demo ticket) is capped as well.
    assert _attack(served, "/demo/ticket", {}, chunked) == (413, "body_too_large")


def test_a_body_under_the_cap_still_reaches_the_route(served: Served) -> None:
    padded = b'{"name": "padded"' + b" " * (MiB - 100) + b"}"
    for chunked in (True, False):
        result = _send(served, padded, chunked)
        assert result[0] == 201, result
        assert result[1]["name"] == "padded"


def _send(served: Served, body: bytes, chunked: bool) -> tuple[int | None, dict]:
    import socket

    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    framing = "Transfer-Encoding: chunked" if chunked else f"Content-Length: {len(body)}"
    head = (
        f"POST /v1/apps HTTP/1.1\r\nHost: x\r\nX-Admin-Key: {served.admin_key}\r\n"
        f"Content-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    ).encode()
    payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if chunked else body
    sock.sendall(head + payload)
    data = bytearray()
    while chunk := sock.recv(65536):
        data.extend(chunk)
    sock.close()
    raw_head, _, raw_body = bytes(data).partition(b"\r\n\r\n")
    status = int(raw_head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in raw_head.lower():
        raw_body = _dechunk(raw_body)
    return status, json.loads(raw_body)


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, _, rest = data.partition(b"\r\n")
        size = int(size_line, 16)
        if size == 0:
            break
        out.extend(rest[:size])
        data = rest[size + 2 :]
    return bytes(out)


def test_the_cap_is_a_setting(tmp_path: Path) -> None:
    from tests.server.serve_process import env_with

    small = env_with(ILVB_SERVER__MAX_BODY_BYTES="4096")
    with serve(tmp_path, env=small) as s:
        admin = {"X-Admin-Key": s.admin_key, "Content-Type": "application/json"}
        over = stream_request(s.port, "POST", "/v1/apps", admin, total=5000, chunked=False)
        assert over.status == 413
        assert b"4096 bytes" in over.body
