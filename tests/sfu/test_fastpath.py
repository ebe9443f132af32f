"""The C fan-out (ilvb.sfu.fastpath): what a pylibsrtp receiver unprotects is exactly the
rewritten packet, byte for byte; the C and Python paths produce identical SRTP; and both paths
share one libsrtp context per transport (the rollover counter survives mixing them)."""

from __future__ import annotations

import os
import socket
import struct
from typing import Any

import pylibsrtp
import pytest

from ilvb.sfu import fastpath
from ilvb.sfu.rtp.packet import parse_rtp, rewrite_rtp
from tests.sfu.test_dtls import connect_pair

pytestmark = pytest.mark.skipif(
    not fastpath.AVAILABLE, reason=f"C fast path not built: {fastpath.IMPORT_ERROR}"
)

PROFILES = {
    "AES128_CM_SHA1_80": (pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80, 30),
    "AEAD_AES_128_GCM": (pylibsrtp.Policy.SRTP_PROFILE_AEAD_AES_128_GCM, 28),
}


def _packet(seq: int, ts: int, *, csrcs: int = 0, ext: bool = True, pad: int = 0) -> bytes:
    """A VP8-like RTP packet: optional CSRCs, two one-byte extensions, padding, marker set."""
    b0 = 0x80 | (0x20 if pad else 0) | (0x10 if ext else 0) | csrcs
    out = struct.pack("!BBHII", b0, 0x80 | 100, seq, ts, 0x11223344)
    out += b"".join(struct.pack("!I", 0xC0C00000 + i) for i in range(csrcs))
    if ext:  # RFC 8285 one-byte: id 1 len 1, id 3 len 3, padded to 8 bytes
        out += struct.pack("!HH", 0xBEDE, 2) + bytes([0x10, 0x7F, 0x32, 1, 2, 3, 0, 0])
    out += bytes(range(200)) * 5 + b"end"
    if pad:
        out += bytes(pad - 1) + bytes([pad])
    return out


def _session(profile: int, key: bytes, ssrc_type: int) -> pylibsrtp.Session:
    policy = pylibsrtp.Policy(key=key, ssrc_type=ssrc_type, srtp_profile=profile)
    policy.allow_repeat_tx = True
    policy.window_size = 1024
    return pylibsrtp.Session(policy)


def _tx(profile: int, key: bytes):
    """A C handle on a fresh outbound pylibsrtp session (what a transport's fast_tx is)."""
    tx = fastpath.tx_for(_session(profile, key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND))
    assert tx is not None
    return tx


@pytest.fixture
def udp_pair():
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)
    tx.bind(("127.0.0.1", 0))
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    yield tx, rx
    tx.close()
    rx.close()


def _recv(rx: socket.socket, n: int) -> list[bytes]:
    return [rx.recv(2048) for _ in range(n)]


@pytest.mark.parametrize("name", sorted(PROFILES))
@pytest.mark.parametrize(
    "shape", [{}, {"csrcs": 2}, {"ext": False}, {"pad": 7}, {"csrcs": 1, "pad": 3}]
)
def test_receiver_unprotects_exactly_the_rewritten_packet(udp_pair, name, shape) -> None:
    profile, key_len = PROFILES[name]
    key = os.urandom(key_len)
    tx_sock, rx_sock = udp_pair
    data = _packet(4990, 900000, **shape)
    view = parse_rtp(data)
    assert view is not None
    # three consumers (different slots: PT, seq, ts, SSRC), each with its own context
    targets = [(96, 100, 1000, 0xA1), (102, 65535, 0xFFFFFFFF, 0xB2), (97, 7, 0, 0xC3)]
    ctxs = [_tx(profile, key) for _ in targets]
    addr = rx_sock.getsockname()
    items = [(c, addr, *t) for c, t in zip(ctxs, targets, strict=True)]
    sent, failed = fastpath.forward(tx_sock.fileno(), data, view.header_len, items)
    assert (sent, failed) == (3, 0)
    got = _recv(rx_sock, 3)
    py_tx = [_session(profile, key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND) for _ in targets]
    for wire, (pt, seq, ts, ssrc), ptx in zip(got, targets, py_tx, strict=True):
        expected = rewrite_rtp(data, view, payload_type=pt, seq=seq, timestamp=ts, ssrc=ssrc)
        rx = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        assert rx.unprotect(wire) == expected
        # the Python path (pylibsrtp, same key, same index) produces the same SRTP bytes
        assert ptx.protect(expected) == wire
        plain = parse_rtp(expected)
        assert plain is not None and (plain.payload_type, plain.seq, plain.ssrc) == (pt, seq, ssrc)
        assert plain.ext_profile == -1 and plain.marker


def test_many_consumers_are_batched_and_a_sequence_survives_rollover(udp_pair) -> None:
    profile, key_len = PROFILES["AES128_CM_SHA1_80"]
    key = os.urandom(key_len)
    tx_sock, rx_sock = udp_pair
    addr = rx_sock.getsockname()
    n = fastpath._c.BATCH * 2 + 5  # several sendmmsg batches
    ctx = [_tx(profile, key) for _ in range(n)]
    rxs = [_session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND) for _ in range(n)]
    # seq 65534, 65535, 0, 1: the receiver must follow the ROC the C context keeps
    for k, seq in enumerate((65534, 65535, 0, 1)):
        data = _packet(seq, 3000 * k)
        view = parse_rtp(data)
        assert view is not None
        items = [(c, addr, 96, seq, 3000 * k, 0x1000 + i) for i, c in enumerate(ctx)]
        assert fastpath.forward(tx_sock.fileno(), data, view.header_len, items) == (n, 0)
        by_ssrc = {}
        for wire in _recv(rx_sock, n):
            ssrc = struct.unpack_from("!I", wire, 8)[0]
            by_ssrc[ssrc] = wire
        assert sorted(by_ssrc) == [0x1000 + i for i in range(n)]
        for i in range(n):
            plain = rxs[i].unprotect(by_ssrc[0x1000 + i])
            assert plain == rewrite_rtp(
                data, view, payload_type=96, seq=seq, timestamp=3000 * k, ssrc=0x1000 + i
            )


def test_retransmission_through_the_same_context_is_allowed_and_identical() -> None:
    profile, key_len = PROFILES["AES128_CM_SHA1_80"]
    key = os.urandom(key_len)
    ctx = _tx(profile, key)
    plain = rewrite_rtp(
        _packet(5, 9), parse_rtp(_packet(5, 9)), payload_type=96, seq=42, timestamp=9, ssrc=7
    )
    first = ctx.protect(plain)
    again = ctx.protect(plain)  # a NACK answer: same (ssrc, seq) twice
    assert first == again
    rx = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    assert rx.unprotect(first) == plain


def test_c_and_python_share_one_context_across_rollover(udp_pair) -> None:
    """Forwarded packets (C) and NACK answers (pylibsrtp) of one SSRC interleave across a seq
    wrap: the receiver, which tracks one ROC, must unprotect every one of them."""
    profile, key_len = PROFILES["AES128_CM_SHA1_80"]
    key = os.urandom(key_len)
    tx_sock, rx_sock = udp_pair
    session = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
    ctx = fastpath.tx_for(session)
    rx = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    addr = rx_sock.getsockname()
    sent: dict[int, bytes] = {}
    for seq in [65533, 65534, 65535, 0, 1, 2]:
        data = _packet(seq, seq * 10)
        view = parse_rtp(data)
        assert view is not None
        expected = rewrite_rtp(data, view, payload_type=96, seq=seq, timestamp=seq, ssrc=0xE5)
        if seq in (65535, 1):  # the Python path (as a NACK answer would) on the same session
            assert rx.unprotect(session.protect(expected)) == expected
        else:
            items = [(ctx, addr, 96, seq, seq, 0xE5)]
            assert fastpath.forward(tx_sock.fileno(), data, view.header_len, items) == (1, 0)
            assert rx.unprotect(rx_sock.recv(2048)) == expected
        sent[seq] = expected
    # a retransmission of an old packet through the shared context is still accepted by a
    # receiver that has not seen it (ROC right for a seq from before the wrap)
    late = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
    assert late.unprotect(session.protect(sent[65534])) == sent[65534]


def test_tx_for_a_dtls_session_matches_the_peer() -> None:
    server, client = connect_pair()
    plain = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + b"payload" * 10
    for peer, other in ((server, client), (client, server)):
        ctx = fastpath.tx_for(peer.dtls.tx)
        assert ctx is not None
        assert other.dtls.rx.unprotect(ctx.protect(plain)) == plain  # type: ignore[union-attr]
    assert fastpath.tx_for(None) is None


def test_bad_input_raises_typed_errors(udp_pair) -> None:
    tx_sock, rx_sock = udp_pair
    with pytest.raises(fastpath.Error):
        fastpath._c.Tx(object(), 0)  # a null context
    ctx = _tx(PROFILES["AES128_CM_SHA1_80"][0], os.urandom(30))
    data = _packet(1, 1)
    with pytest.raises(fastpath.Error):
        fastpath.forward(tx_sock.fileno(), data[:8], 12, [])
    with pytest.raises(fastpath.Error):
        fastpath.forward(tx_sock.fileno(), data, len(data) + 1, [])
    with pytest.raises(fastpath.Error):
        fastpath.forward(tx_sock.fileno(), data, 12, [(ctx, ("localhost", 5), 96, 1, 1, 1)])
    with pytest.raises(fastpath.Error):
        fastpath.forward(tx_sock.fileno(), data, 12, [("nope", rx_sock.getsockname())])
    with pytest.raises(fastpath.Error):
        ctx.protect(b"\x80")


def test_ipv6_socket_and_address() -> None:
    try:
        tx_sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        rx_sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        tx_sock.bind(("::1", 0))
        rx_sock.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback")
    rx_sock.settimeout(5)
    try:
        profile, key_len = PROFILES["AES128_CM_SHA1_80"]
        key = os.urandom(key_len)
        data = _packet(10, 20)
        view = parse_rtp(data)
        assert view is not None
        items = [(_tx(profile, key), rx_sock.getsockname(), 96, 11, 21, 0xD4)]
        assert fastpath.forward(tx_sock.fileno(), data, view.header_len, items) == (1, 0)
        rx = _session(profile, key, pylibsrtp.Policy.SSRC_ANY_INBOUND)
        expected = rewrite_rtp(data, view, payload_type=96, seq=11, timestamp=21, ssrc=0xD4)
        assert rx.unprotect(rx_sock.recv(2048)) == expected
    finally:
        tx_sock.close()
        rx_sock.close()


async def _through_a_worker(fast: bool) -> tuple[list[bytes], Any]:
    """Publisher → worker → subscriber over the worker's real socket; the subscriber's plain
    RTP with the slot SSRC zeroed (slot SSRCs are random), and the worker's stats."""
    import asyncio

    from ilvb.sfu.api import Subscription
    from ilvb.sfu.sdp import AcceptedTrack
    from ilvb.sfu.worker import Worker, WorkerConfig
    from tests.sfu.miniclient import MiniClient
    from tests.sfu.test_worker import VP8_KEY, until

    w = Worker(WorkerConfig(fastpath=fast), lambda *a: None)
    await w.start()
    pub, sub = MiniClient(), MiniClient()
    await pub.open()
    await sub.open()
    try:
        assert (w.fast_fd is not None) is fast
        w.command("open_router", ("r1",))
        track = AcceptedTrack(
            "0", "video", "camera", "VP8", 120, 90000, None, "", (), 777, None, None
        )
        local, _ = w.command("negotiate_send", ("r1", "alice", pub.remote_params(), [track]))
        await pub.connect(local)
        local_r, _ = w.command("offer_receive", ("r1", "bob", 0, 1))
        await sub.connect(local_r)
        w.command("accept_receive_answer", ("r1", "bob", sub.remote_params(), {"v0": {"VP8": 98}}))
        w.command("set_subscription", ("r1", "bob", Subscription(views=(("alice", "camera"),))))
        recv = w.routers["r1"].members["bob"].recv
        await until(lambda: recv.state == "connected", 5, "receive transport connected")
        assert (recv.fast_tx is not None) is fast
        # across a seq wrap; extensions, a CSRC, padding and one reordered pair
        seqs = [65530, 65531, 65532, 65534, 65533, 65535, 0, 1, 2, 3]
        for k, seq in enumerate(seqs):
            shape = {"csrcs": 1} if k == 2 else {"pad": 4} if k == 7 else {}
            data = bytearray(_packet(seq, 90 * seq, **shape))
            data[1] = 0x80 | 120 if k % 3 == 0 else 120  # marker on some
            data[8:12] = struct.pack("!I", 777)
            view = parse_rtp(bytes(data))
            assert view is not None
            pub.send_rtp(bytes(data[: view.header_len]) + VP8_KEY + bytes(data[view.payload_end :]))
            await asyncio.sleep(0.005)
        await until(lambda: len(sub.rtp) >= len(seqs), 5, "every packet at the subscriber")
        stats = w.command("stats", ("r1",))
        return [p[:8] + bytes(4) + p[12:] for p in sub.rtp], stats
    finally:
        pub.close()
        sub.close()
        await w.close()


async def test_worker_forwards_the_same_packets_with_and_without_the_fast_path() -> None:
    fast, fast_stats = await _through_a_worker(True)
    slow, slow_stats = await _through_a_worker(False)
    assert fast == slow
    assert len(fast) == 10 and [parse_rtp(p).seq for p in fast][:3] == [65530, 65531, 65532]  # type: ignore[union-attr]
    assert fast_stats["packets_out"] == slow_stats["packets_out"] == 10
