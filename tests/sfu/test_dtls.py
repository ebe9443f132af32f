"""DTLS-SRTP over memory BIOs: handshake both roles, keys that interoperate, fingerprint check,
retransmission after a lost flight."""

from __future__ import annotations

import time

import pytest

from ilvb.sfu.dtls import DtlsCertificate, DtlsSrtp

RTP = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + b"payload" * 10
RTCP_RR = bytes([0x80, 201, 0, 1, 0, 0, 0, 7])


class Peer:
    def __init__(self, cert: DtlsCertificate) -> None:
        self.cert = cert
        self.out: list[bytes] = []
        self.events: list[str] = []
        self.dtls = DtlsSrtp(
            cert, self.out.append, lambda: self.events.append("up"), self.events.append
        )


def pump(a: Peer, b: Peer, rounds: int = 10, drop_first_from_a: bool = False) -> None:
    dropped = False
    for _ in range(rounds):
        while a.out:
            data = a.out.pop(0)
            if drop_first_from_a and not dropped:
                dropped = True
                continue
            b.dtls.handle(data)
        while b.out:
            a.dtls.handle(b.out.pop(0))


def connect_pair(fp_for_server: str | None = None) -> tuple[Peer, Peer]:
    server, client = Peer(DtlsCertificate.generate()), Peer(DtlsCertificate.generate())
    server.dtls.set_remote([("sha-256", fp_for_server or client.cert.fingerprint)], "server")
    client.dtls.set_remote([("sha-256", server.cert.fingerprint)], "client")
    client.dtls.kick()
    pump(client, server)
    return server, client


def test_handshake_connects_both_roles_and_srtp_keys_match() -> None:
    server, client = connect_pair()
    assert server.events == ["up"] and client.events == ["up"]
    assert server.dtls.state == client.dtls.state == "connected"
    protected = client.dtls.tx.protect(RTP)  # type: ignore[union-attr]
    assert protected != RTP
    assert server.dtls.rx.unprotect(protected) == RTP  # type: ignore[union-attr]
    back = server.dtls.tx.protect_rtcp(RTCP_RR)  # type: ignore[union-attr]
    assert client.dtls.rx.unprotect_rtcp(back) == RTCP_RR  # type: ignore[union-attr]
    # NACK answers resend the same packet: allowed on the sending side
    server.dtls.tx.protect(RTP)  # type: ignore[union-attr]
    server.dtls.tx.protect(RTP)  # type: ignore[union-attr]


def test_fingerprint_mismatch_fails_and_keys_nothing() -> None:
    server, _ = connect_pair(fp_for_server="AA:" * 31 + "AA")
    assert server.dtls.state == "failed"
    assert server.dtls.rx is None and any("fingerprint" in e for e in server.events)


def test_client_hello_before_the_answer_makes_us_server_and_waits_for_fingerprint() -> None:
    server, client = Peer(DtlsCertificate.generate()), Peer(DtlsCertificate.generate())
    client.dtls.set_remote([("sha-256", server.cert.fingerprint)], "client")
    client.dtls.kick()
    pump(client, server)  # the answer has not reached the server yet
    assert server.dtls.role == "server" and server.dtls.state == "connecting"
    assert client.events == ["up"] and server.events == []
    server.dtls.set_remote([("sha-256", client.cert.fingerprint)], "server")
    assert server.events == ["up"]
    assert server.dtls.rx.unprotect(client.dtls.tx.protect(RTP)) == RTP  # type: ignore[union-attr]


def test_lost_flight_is_retransmitted_on_timeout() -> None:
    server, client = Peer(DtlsCertificate.generate()), Peer(DtlsCertificate.generate())
    server.dtls.set_remote([("sha-256", client.cert.fingerprint)], "server")
    client.dtls.set_remote([("sha-256", server.cert.fingerprint)], "client")
    client.dtls.kick()
    pump(client, server, rounds=1, drop_first_from_a=True)  # the ClientHello is lost
    assert server.dtls.state == "connecting" and client.events == []
    deadline = time.monotonic() + 5
    while client.events != ["up"] and time.monotonic() < deadline:
        time.sleep(0.05)
        client.dtls.poll(time.monotonic())
        server.dtls.poll(time.monotonic())
        pump(client, server)
    assert client.events == ["up"] and server.events == ["up"]


def test_garbage_and_close_are_harmless() -> None:
    server, client = connect_pair()
    server.dtls.handle(b"\x17\xfe\xfd" + b"\x00" * 20)  # bogus application record
    assert server.dtls.state == "connected"
    client.dtls.close()
    client.dtls.close()
    pump(client, server)
    assert server.dtls.state == "closed"
    with pytest.raises(AttributeError):
        client.dtls.tx.protect(RTP)  # type: ignore[union-attr]  # keys dropped
