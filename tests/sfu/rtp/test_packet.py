"""RTP header parsing, RFC 5761 demux, header rewriting and header extension access."""

from __future__ import annotations

import struct

import pytest
from aiortc.rtp import RtpPacket
from hypothesis import given
from hypothesis import strategies as st

from ilvb.sfu.rtp.packet import (
    build_rtx,
    get_extension,
    is_rtcp,
    padding_len,
    parse_rtp,
    rewrite_rtp,
    unwrap_rtx,
)


def build_rtp(
    *,
    pt: int = 96,
    marker: bool = False,
    seq: int = 1000,
    ts: int = 90000,
    ssrc: int = 0x11223344,
    csrcs: tuple[int, ...] = (),
    ext: tuple[int, bytes] | None = None,
    payload: bytes = b"\x10\x02payload",
    padding: int = 0,
) -> bytes:
    """A packet with named fields; ``ext`` is (profile, element bytes already 32-bit padded)."""
    b0 = 0x80 | len(csrcs) | (0x10 if ext else 0) | (0x20 if padding else 0)
    out = struct.pack("!BBHII", b0, (0x80 if marker else 0) | pt, seq, ts, ssrc)
    out += b"".join(struct.pack("!I", c) for c in csrcs)
    if ext:
        profile, body = ext
        assert len(body) % 4 == 0
        out += struct.pack("!HH", profile, len(body) // 4) + body
    out += payload
    if padding:
        out += bytes(padding - 1) + bytes([padding])
    return out


def one_byte(*elements: tuple[int, bytes]) -> tuple[int, bytes]:
    """A 0xBEDE extension block from (id, value) elements, zero padded."""
    body = b"".join(bytes([(i << 4) | (len(v) - 1)]) + v for i, v in elements)
    return 0xBEDE, body + bytes(-len(body) & 3)


def two_byte(*elements: tuple[int, bytes]) -> tuple[int, bytes]:
    """A 0x1000 extension block from (id, value) elements, zero padded."""
    body = b"".join(bytes([i, len(v)]) + v for i, v in elements)
    return 0x1000, body + bytes(-len(body) & 3)


def test_parse_plain_packet_reads_every_field() -> None:
    data = build_rtp(pt=111, marker=True, seq=65535, ts=0xFFFFFFFF, ssrc=42, payload=b"abc")
    v = parse_rtp(data)
    assert v is not None
    assert (v.payload_type, v.marker, v.seq, v.timestamp, v.ssrc) == (
        111,
        True,
        65535,
        2**32 - 1,
        42,
    )
    assert v.header_len == 12 and v.payload_end == len(data)
    assert v.ext_profile == -1 and v.ext_start == v.ext_end == 12
    assert data[v.header_len : v.payload_end] == b"abc"


def test_parse_agrees_with_aiortc_on_csrc_extension_and_padding() -> None:
    data = build_rtp(
        csrcs=(7, 8), ext=one_byte((1, b"\x85"), (3, b"\x01\x02\x03")), payload=b"xyz", padding=4
    )
    v = parse_rtp(data)
    ref = RtpPacket.parse(data)
    assert v is not None
    assert (v.payload_type, v.seq, v.timestamp, v.ssrc) == (
        ref.payload_type,
        ref.sequence_number,
        ref.timestamp,
        ref.ssrc,
    )
    assert v.csrc_count == 2
    assert data[v.header_len : v.payload_end] == ref.payload == b"xyz"
    assert padding_len(data, v) == 4
    assert v.ext_profile == 0xBEDE and v.ext_end - v.ext_start == 8


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("empty", b""),
        ("short", b"\x80\x60\x00"),
        ("version 1", b"\x40" + bytes(11)),
        ("version 0", bytes(12)),
        ("csrc past end", b"\x83\x60" + bytes(10) + bytes(8)),
        ("ext header past end", b"\x90\x60" + bytes(10) + b"\xbe\xde"),
        ("ext length past end", b"\x90\x60" + bytes(10) + b"\xbe\xde\x00\x02" + bytes(4)),
        ("zero padding count", b"\xa0\x60" + bytes(10) + b"ab\x00"),
        ("padding past header", b"\xa0\x60" + bytes(10) + b"ab\x09"),
        ("padding bit without payload", b"\xa0\x60" + bytes(10)),
    ],
)
def test_parse_rejects_malformed_packets(name: str, data: bytes) -> None:
    assert parse_rtp(data) is None, name


def test_padding_only_packet_has_empty_payload() -> None:
    data = build_rtp(payload=b"", padding=200)
    v = parse_rtp(data)
    assert v is not None and v.payload_len == 0 and padding_len(data, v) == 200


def test_is_rtcp_uses_rfc5761_second_byte_range() -> None:
    assert is_rtcp(b"\x80\xc8" + bytes(26))  # SR 200
    assert is_rtcp(b"\x81\xcd" + bytes(14))  # RTPFB 205
    assert is_rtcp(b"\x80\xc0")  # 192
    assert is_rtcp(b"\x80\xdf")  # 223
    assert not is_rtcp(build_rtp(pt=96))
    assert not is_rtcp(build_rtp(pt=111, marker=True))  # 0xEF
    assert not is_rtcp(b"\x80\xbf")
    assert not is_rtcp(b"\x80")


def test_rewrite_sets_new_fields_and_keeps_payload() -> None:
    data = build_rtp(pt=96, marker=False, seq=1, ts=2, ssrc=3, payload=b"\x90\xe0" + bytes(100))
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=100, seq=70000, timestamp=2**32 + 5, ssrc=0xDEADBEEF)
    ref = RtpPacket.parse(out)
    assert ref.payload_type == 100 and ref.marker == 0
    assert ref.sequence_number == 70000 - 65536 and ref.timestamp == 5
    assert ref.ssrc == 0xDEADBEEF and ref.payload == data[12:]
    assert len(out) == len(data)


def test_rewrite_marker_override_and_keep() -> None:
    data = build_rtp(marker=True)
    v = parse_rtp(data)
    assert v is not None
    kept = rewrite_rtp(data, v, payload_type=96, seq=1, timestamp=1, ssrc=1)
    cleared = rewrite_rtp(data, v, payload_type=96, seq=1, timestamp=1, ssrc=1, marker=False)
    assert kept[1] & 0x80 and not cleared[1] & 0x80


def test_rewrite_drops_extensions_by_default() -> None:
    data = build_rtp(ext=one_byte((1, b"\x85"), (2, b"abcd")), payload=b"PAYLOAD")
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=96, seq=9, timestamp=9, ssrc=9)
    assert out[0] & 0x10 == 0
    assert len(out) == 12 + len(b"PAYLOAD") and out[12:] == b"PAYLOAD"
    assert parse_rtp(out) is not None


def test_rewrite_keeps_only_mapped_extensions_renumbered() -> None:
    data = build_rtp(ext=one_byte((1, b"\x85"), (2, b"abcd"), (4, b"zz")), payload=b"P")
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=96, seq=9, timestamp=9, ssrc=9, keep_extensions={1: 10})
    ov = parse_rtp(out)
    assert ov is not None and out[0] & 0x10
    assert ov.ext_profile == 0xBEDE and ov.ext_end - ov.ext_start == 4
    assert get_extension(out, ov, 10) == b"\x85"
    assert get_extension(out, ov, 1) is None and get_extension(out, ov, 2) is None
    assert out[ov.header_len :] == b"P"
    ref = RtpPacket.parse(out)
    assert ref.payload == b"P"


def test_rewrite_with_nothing_to_keep_clears_x_bit() -> None:
    data = build_rtp(ext=one_byte((2, b"abcd")), payload=b"P")
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=96, seq=9, timestamp=9, ssrc=9, keep_extensions={1: 1})
    assert out[0] & 0x10 == 0 and out[12:] == b"P"


def test_rewrite_converts_short_two_byte_elements_to_one_byte_form() -> None:
    data = build_rtp(ext=two_byte((1, b"\x85"), (5, bytes(20))), payload=b"P")
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(
        data, v, payload_type=96, seq=9, timestamp=9, ssrc=9, keep_extensions={1: 3, 5: 6}
    )
    ov = parse_rtp(out)
    assert ov is not None and ov.ext_profile == 0xBEDE
    assert get_extension(out, ov, 3) == b"\x85"
    assert get_extension(out, ov, 6) is None  # 20 bytes do not fit a one-byte element


def test_rewrite_keeps_padding_and_csrcs() -> None:
    data = build_rtp(csrcs=(0xAABBCCDD,), ext=one_byte((1, b"\x01")), payload=b"xy", padding=3)
    v = parse_rtp(data)
    assert v is not None
    for keep in (None, {1: 1}):
        out = rewrite_rtp(
            data, v, payload_type=97, seq=5, timestamp=6, ssrc=7, keep_extensions=keep
        )
        ref = RtpPacket.parse(out)
        assert ref.csrc == [0xAABBCCDD]
        assert ref.payload == b"xy" and ref.padding_size == 3
        ov = parse_rtp(out)
        assert ov is not None and padding_len(out, ov) == 3


def test_get_extension_one_byte_profile_skips_padding_bytes() -> None:
    # id 1 (1 byte), two padding bytes, id 3 (2 bytes), one padding byte
    data = build_rtp(ext=(0xBEDE, b"\x10\x85\x00\x00\x31\xaa\xbb\x00"), payload=b"P")
    v = parse_rtp(data)
    assert v is not None
    assert get_extension(data, v, 1) == b"\x85"
    assert get_extension(data, v, 3) == b"\xaa\xbb"
    assert get_extension(data, v, 2) is None


def test_get_extension_two_byte_profile() -> None:
    data = build_rtp(ext=two_byte((1, b""), (20, b"hello")), payload=b"P")
    v = parse_rtp(data)
    assert v is not None
    assert get_extension(data, v, 1) == b""
    assert get_extension(data, v, 20) == b"hello"
    assert get_extension(data, v, 2) is None


def test_get_extension_stops_at_truncated_element_and_unknown_profile() -> None:
    data = build_rtp(ext=(0xBEDE, b"\x10\x85\x3f\x00"), payload=b"P")  # id3 claims 16 bytes
    v = parse_rtp(data)
    assert v is not None
    assert get_extension(data, v, 1) == b"\x85"
    assert get_extension(data, v, 3) is None
    other = build_rtp(ext=(0x1234, b"\x10\x85\x00\x00"), payload=b"P")
    ov = parse_rtp(other)
    assert ov is not None and get_extension(other, ov, 1) is None


def test_get_extension_without_extension_is_none() -> None:
    data = build_rtp()
    v = parse_rtp(data)
    assert v is not None and get_extension(data, v, 1) is None


@given(st.binary(max_size=64))
def test_parse_never_raises_on_random_bytes(data: bytes) -> None:
    v = parse_rtp(data)
    if v is not None:
        assert 12 <= v.header_len <= v.payload_end <= len(data)
        get_extension(data, v, 1)
        rewrite_rtp(data, v, payload_type=1, seq=1, timestamp=1, ssrc=1, keep_extensions={1: 1})


@given(
    st.integers(0, 127),
    st.booleans(),
    st.integers(0, 65535),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=40),
)
def test_rewrite_then_parse_round_trips(
    pt: int, marker: bool, seq: int, ts: int, ssrc: int, payload: bytes
) -> None:
    data = build_rtp(ext=one_byte((1, b"\x7f")), payload=payload)
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=pt, seq=seq, timestamp=ts, ssrc=ssrc, marker=marker)
    ov = parse_rtp(out)
    assert ov is not None
    assert (ov.payload_type, ov.marker, ov.seq, ov.timestamp, ov.ssrc) == (
        pt,
        marker,
        seq,
        ts,
        ssrc,
    )
    assert out[ov.header_len :] == payload


def test_build_rtx_matches_aiortc_wrap_rtx() -> None:
    from aiortc.rtp import wrap_rtx

    data = build_rtp(pt=96, marker=True, seq=500, ts=777, ssrc=0xAA, payload=b"vp8data", padding=2)
    v = parse_rtp(data)
    assert v is not None
    rtx = build_rtx(data, v, payload_type=97, seq=9, ssrc=0xBB, original_seq=500, timestamp=777)
    ref = wrap_rtx(RtpPacket.parse(data), payload_type=97, sequence_number=9, ssrc=0xBB)
    parsed = RtpPacket.parse(rtx)
    assert (parsed.payload_type, parsed.marker, parsed.sequence_number) == (97, 1, 9)
    assert (parsed.timestamp, parsed.ssrc, parsed.payload) == (ref.timestamp, ref.ssrc, ref.payload)
    assert parsed.padding_size == 0


def test_build_rtx_uses_rewritten_original_seq_and_timestamp() -> None:
    data = build_rtp(seq=500, ts=777, payload=b"x")
    v = parse_rtp(data)
    assert v is not None
    rtx = build_rtx(data, v, payload_type=97, seq=1, ssrc=2, original_seq=102, timestamp=1000)
    rv = parse_rtp(rtx)
    assert rv is not None and rv.timestamp == 1000
    assert rtx[rv.header_len : rv.header_len + 2] == b"\x00\x66"


def test_unwrap_rtx_restores_the_original_packet_with_extensions() -> None:
    original = build_rtp(
        pt=96, marker=True, seq=4992, ts=900000, ssrc=0xA, ext=one_byte((4, b"v0")), payload=b"PL"
    )
    v = parse_rtp(original)
    assert v is not None
    # what the publisher sends on its RTX stream (keeps the extensions, like libwebrtc)
    rtx = build_rtp(
        pt=97,
        marker=True,
        seq=33,
        ts=900000,
        ssrc=0xB,
        ext=one_byte((4, b"v0")),
        payload=b"\x13\x80PL",
        padding=3,
    )
    rv = parse_rtp(rtx)
    assert rv is not None
    restored = unwrap_rtx(rtx, rv, payload_type=96, ssrc=0xA)
    assert restored == original


def test_unwrap_rtx_drops_padding_only_probes() -> None:
    probe = build_rtp(pt=97, seq=34, payload=b"", padding=255)
    pv = parse_rtp(probe)
    assert pv is not None and unwrap_rtx(probe, pv, payload_type=96, ssrc=1) is None
    short = build_rtp(pt=97, seq=35, payload=b"\x01")
    sv = parse_rtp(short)
    assert sv is not None and unwrap_rtx(short, sv, payload_type=96, ssrc=1) is None
