"""SDK logs against a real server: level and directory, structured ids, redaction, upload and
REST listing, quota, crash reports (a failing SDK callback, a fatal error) uploaded on the next
start, and no secret in any stored bundle."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from pathlib import Path

import httpx
import pytest

from ilvb.auth.tickets import sign_server_token
from ilvb.client.logs import LOG_FILE, SdkLogs, http_base, redact
from ilvb.errors import LimitExceeded
from tests.integration.harness import LiveServer
from tests.integration.media_checks import wait_until

pytestmark = pytest.mark.timeout(60)


async def _rest(server: LiveServer, path: str) -> dict:
    token = sign_server_token(server.app_id, server.secret)
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.get(
            http_base(server.url) + path, headers={"Authorization": f"Bearer {token}"}
        )
    assert reply.status_code == 200, reply.text
    return reply.json()  # type: ignore[no-any-return]


def test_redact_removes_tickets_keys_tokens() -> None:
    text = redact(
        'ticket=eyJhbGciOi.eyJzdWIiOiJ4In0.sig "secret": "s3cr3t" Authorization: Bearer abc.def '
        "key=K123 a=ice-pwd:pw123 plain eyJabcd.eyJefgh.ijkl"
    )
    for secret in ("eyJhbGciOi", "s3cr3t", "abc.def", "K123", "pw123", "eyJabcd"):
        assert secret not in text
    assert "plain" in text


async def test_level_directory_ids_upload_and_rest_listing(tmp_path: Path) -> None:
    async with LiveServer(server={"data_dir": str(tmp_path / "data")}) as server:
        client = await server.client("alice")
        await client.enter("logs-room")
        logs = SdkLogs(tmp_path / "sdk-logs", level="WARNING").install(crash_reports=False)
        try:
            logs.context_from(client)
            sdk = logging.getLogger("ilvb.client.test")
            sdk.info("below the level")
            sdk.warning("ticket=%s and raw %s", client.connection.ticket, client.connection.ticket)
            lines = [
                json.loads(line)
                for line in (tmp_path / "sdk-logs" / LOG_FILE).read_text().splitlines()
            ]
            assert [line["level"] for line in lines] == ["WARNING"]
            line = lines[0]
            assert line["app_id"] == server.app_id and line["user_id"] == "alice"
            assert line["room"] == "logs-room" and len(line["session_id"]) == 12
            assert client.connection.ticket not in json.dumps(line)

            bundle_id = await client.upload_logs(logs, stats={"rtt_ms": 3, "ticket": "x"})
            listed = await _rest(server, f"/v1/apps/{server.app_id}/logs")
            assert [b["id"] for b in listed["bundles"]] == [bundle_id]
            assert listed["bundles"][0]["user_id"] == "alice"
            stored = await _rest(server, f"/v1/apps/{server.app_id}/logs/{bundle_id}")
            assert "ticket=***" in stored["logs"] and stored["stats"]["rtt_ms"] == 3
            assert stored["environment"]["python"] and stored["environment"]["packages"]

            # The per-app quota: a full store refuses with log_quota_exceeded.
            server.app.state.log_quota_bytes = listed["used_bytes"] + 10
            with pytest.raises(LimitExceeded) as full:
                await logs.upload(client)
            assert full.value.code == "log_quota_exceeded"
        finally:
            logs.close()


async def test_crash_in_callback_and_fatal_error_uploaded_on_next_start(tmp_path: Path) -> None:
    directory = tmp_path / "sdk-logs"
    # A run that dies of a fatal error (faulthandler writes its fatal-<pid>.log).
    script = (
        "import ctypes, sys; from ilvb.client.logs import SdkLogs; "
        f"SdkLogs({str(directory)!r}).install(); ctypes.string_at(0)"
    )
    died = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stderr=asyncio.subprocess.DEVNULL
    )
    assert await asyncio.wait_for(died.wait(), 30) != 0
    async with LiveServer(server={"data_dir": str(tmp_path / "data")}) as server:
        alice = await server.client("alice")
        bob = await server.client("bob")
        logs = SdkLogs(directory).install()
        ticket, secret = alice.connection.ticket, server.secret
        try:
            logs.context_from(alice)

            def crashing_callback(event: object) -> None:
                raise RuntimeError(f"forced crash ticket={ticket} secret={secret}")

            alice.on("members.entered", crashing_callback)
            await alice.enter("crash-room")
            await bob.enter("crash-room")
            await wait_until(lambda: list(directory.glob("crash-*.json")), 10, "a crash report")
        finally:
            logs.close()

        # The next start uploads both reports and removes them.
        logs = SdkLogs(directory).install()
        try:
            ids = await logs.upload_pending(alice)
            assert len(ids) == 2
            assert not list(directory.glob("crash-*.json"))
            assert not [p for p in directory.glob("fatal-*.log") if p.stat().st_size]
            await logs.upload(alice)
        finally:
            logs.close()
        listed = await _rest(server, f"/v1/apps/{server.app_id}/logs")
        kinds = sorted(b["kind"] for b in listed["bundles"])
        assert kinds == ["crash", "crash", "logs"]
        bodies = [
            await _rest(server, f"/v1/apps/{server.app_id}/logs/{b['id']}")
            for b in listed["bundles"]
        ]
        crashes = [b["crash"] for b in bodies if b["kind"] == "crash"]
        assert any(
            "forced crash" in c.get("message", "") and "crashing_callback" in c["traceback"]
            for c in crashes
        )
        assert any(c["type"] == "fatal" and "Segmentation fault" in c["traceback"] for c in crashes)

    # No ticket, key or secret in anything stored.
    server_token = sign_server_token(server.app_id, server.secret)
    stored = "".join(p.read_text() for p in (tmp_path / "data").rglob("*.json"))
    assert stored
    for secret_text in (ticket, secret, alice.connection.session, server_token, "eyJ"):
        assert secret_text not in stored
