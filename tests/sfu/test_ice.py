"""ICE-lite responder: Binding requests answered with integrity, address selection, consent."""

from __future__ import annotations

from aioice import stun

from ilvb.sfu.dtls import DtlsCertificate
from ilvb.sfu.ice import CONSENT_TIMEOUT_S, IceLiteResponder
from ilvb.sfu.transport import WebRtcTransport

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
