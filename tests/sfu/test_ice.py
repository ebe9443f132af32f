"""ICE-lite responder: Binding requests answered with integrity, address selection, consent;
the client ufrag checked; crafted STUN counted and dropped without a log storm."""

from __future__ import annotations

import asyncio
import io
import logging
import socket
import struct
import time

import pytest
from aioice import stun

from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.ice import CONSENT_TIMEOUT_S, IceLiteResponder
from ilvb.sfu.transport import RemoteParams, WebRtcTransport
from ilvb.sfu.worker import Worker, WorkerConfig
from tests.integration.media_checks import wait_until

CLIENT = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 40001)


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def make_transport(clock: Clock) -> tuple[WebRtcTransport, list[tuple[bytes, tuple[str, int]]]]:
    sent: list[tuple[bytes, tuple[str, int]]] = []
    t = WebRtcTransport(
        DtlsCertificate.generate(), lambda d, a: sent.append((d, a)), "127.0.0.1", 5000, clock
    )
    return t, sent


def binding(ufrag: str, pwd: str, nominate: bool = False, username: str | None = None) -> bytes:
    req = stun.Message(stun.Method.BINDING, stun.Class.REQUEST)
    req.attributes["USERNAME"] = username or f"{ufrag}:clnt"
    req.attributes["PRIORITY"] = 12345
    req.attributes["ICE-CONTROLLING"] = 1
    if nominate:
        req.attributes["USE-CANDIDATE"] = None
    req.add_message_integrity(pwd.encode())
    return bytes(req)


def test_valid_request_gets_success_response_with_integrity_and_mapped_address() -> None:
    clock = Clock()
    t, _ = make_transport(clock)
    ice = IceLiteResponder()
    ice.register(t)
    answered = ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd), CLIENT)
    assert answered is not None
    endpoint, raw = answered
    assert endpoint is t
    resp = stun.parse_message(raw)  # also checks FINGERPRINT
    assert resp.message_class == stun.Class.RESPONSE
    assert resp.attributes["XOR-MAPPED-ADDRESS"] == CLIENT
    assert resp.check_message_integrity(t.ice_params.pwd.encode())
    assert t.remote_addr == CLIENT


def test_wrong_password_unknown_ufrag_and_garbage_are_dropped() -> None:
    t, _ = make_transport(Clock())
    ice = IceLiteResponder()
    ice.register(t)
    assert ice.handle(binding(t.ice_params.ufrag, "x" * 24), CLIENT) is None
    assert ice.handle(binding("nope", t.ice_params.pwd), CLIENT) is None
    assert (
        ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd, username="nocolon"), CLIENT)
        is None
    )
    assert ice.handle(b"\x00\x01" + b"\xff" * 30, CLIENT) is None
    assert t.remote_addr is None
    assert ice.rejected == 4


def test_nominated_address_wins_over_later_unnominated_checks() -> None:
    t, _ = make_transport(Clock())
    ice = IceLiteResponder()
    ice.register(t)
    u, p = t.ice_params.ufrag, t.ice_params.pwd
    ice.handle(binding(u, p), OTHER)
    assert t.remote_addr == OTHER  # any valid check until something is nominated
    ice.handle(binding(u, p, nominate=True), CLIENT)
    assert t.remote_addr == CLIENT
    ice.handle(binding(u, p), OTHER)
    assert t.remote_addr == CLIENT  # an unnominated check does not move it back
    ice.handle(binding(u, p, nominate=True), OTHER)
    assert t.remote_addr == OTHER  # the latest nomination wins
    assert t.addrs == {CLIENT, OTHER}


def test_unregister_stops_answering() -> None:
    t, _ = make_transport(Clock())
    ice = IceLiteResponder()
    ice.register(t)
    ice.unregister(t)
    ice.unregister(t)
    assert len(ice) == 0
    assert ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd), CLIENT) is None


def test_consent_expires_after_30_s_without_traffic() -> None:
    clock = Clock()
    t, _ = make_transport(clock)
    closed: list[str] = []
    t.on_closed = closed.append
    ice = IceLiteResponder()
    ice.register(t)
    ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd, nominate=True), CLIENT)
    clock.t += CONSENT_TIMEOUT_S - 1
    t.tick(clock.t)
    assert t.state != "closed"
    ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd, nominate=True), CLIENT)  # refresh
    clock.t += CONSENT_TIMEOUT_S - 1
    t.tick(clock.t)
    assert t.state != "closed"
    clock.t += 2
    t.tick(clock.t)
    assert t.state == "closed" and closed == ["consent_expired"]
    t.tick(clock.t + 100)
    assert closed == ["consent_expired"]  # close is idempotent


def crafted(i: int) -> bytes:
    """28 bytes: a Binding request whose PRIORITY (fixed 4 bytes) says it is 2 bytes long;
    aioice raises struct.error for it."""
    header = struct.pack("!HHI12s", 0x0001, 8, stun.COOKIE, i.to_bytes(12, "big"))
    return header + struct.pack("!HH", 0x0024, 2) + b"ab\x00\x00"


def test_the_client_ufrag_in_username_must_be_the_negotiated_one() -> None:
    t, _ = make_transport(Clock())
    t.connect(RemoteParams("clnt", "q" * 22, (("sha-256", "AA"),), "client"))
    ice = IceLiteResponder()
    ice.register(t)
    u, p = t.ice_params.ufrag, t.ice_params.pwd
    assert ice.handle(binding(u, p, username=f"{u}:evil"), CLIENT) is None
    assert ice.faults.counts["stun.wrong_remote_ufrag"] == 1 and t.remote_addr is None
    assert ice.handle(binding(u, p, username=f"{u}:clnt"), CLIENT) is not None
    assert t.remote_addr == CLIENT


def test_crafted_stun_is_a_counted_drop_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    t, _ = make_transport(Clock())
    ice = IceLiteResponder()
    ice.register(t)
    with caplog.at_level(logging.DEBUG, logger="ilvb"):
        for i in range(5000):
            assert ice.handle(crafted(i), CLIENT) is None
        assert ice.handle(binding(t.ice_params.ufrag, t.ice_params.pwd), CLIENT) is not None
    assert ice.faults.counts["stun.malformed"] == 5000 and ice.rejected == 5000
    assert len(caplog.records) == 1 and not caplog.records[0].exc_info


async def test_worker_survives_5000_crafted_stun_datagrams_with_a_quiet_log() -> None:
    """Over the worker's real socket: the log grows by a line or two (it grew 3.8 MiB, one
    traceback per packet, before), and a valid check is still answered afterwards."""
    log = io.StringIO()
    handler = logging.StreamHandler(log)
    root = logging.getLogger("ilvb")
    root.addHandler(handler)
    old_level = root.level
    root.setLevel(logging.DEBUG)
    worker = Worker(WorkerConfig(), lambda room, name, payload: None)
    await worker.start()
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.setblocking(False)
    try:
        t = WebRtcTransport(
            worker.certificate, worker.sendto, "127.0.0.1", worker.port, time.monotonic
        )
        worker.add_transport(t)
        dest = ("127.0.0.1", worker.port)
        sent = 0
        async with asyncio.timeout(30):
            while sent < 5000:
                for _ in range(100):  # in bursts the socket buffer holds
                    client.sendto(crafted(sent), dest)
                    sent += 1
                await wait_until(
                    lambda n=sent: worker.faults.counts["stun.malformed"] >= n, 10, "the burst read"
                )
            client.sendto(binding(t.ice_params.ufrag, t.ice_params.pwd), dest)
            while True:
                try:
                    reply = client.recv(2048)
                    break
                except BlockingIOError:
                    await asyncio.sleep(0.005)
        assert stun.parse_message(reply).message_class == stun.Class.RESPONSE
        assert worker.stats()["faults"]["stun.malformed"] == 5000
        text = log.getvalue()
        assert len(text.splitlines()) <= 3 and len(text) < 1024, text
        assert "Traceback" not in text
    finally:
        client.close()
        await worker.close()
        root.removeHandler(handler)
        root.setLevel(old_level)
