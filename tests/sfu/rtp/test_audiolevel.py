"""RFC 6464 audio level extension parsing."""

from __future__ import annotations

import struct

from ilvb.sfu.rtp.audiolevel import audio_level
from ilvb.sfu.rtp.packet import parse_rtp, rewrite_rtp


def packet_with_ext(profile: int, body: bytes) -> bytes:
    hdr = struct.pack("!BBHII", 0x90, 111, 1, 960, 5)
    return hdr + struct.pack("!HH", profile, len(body) // 4) + body + b"opus"


def test_voice_flag_and_level_from_one_byte_extension() -> None:
    data = packet_with_ext(0xBEDE, bytes([0x10, 0x80 | 30, 0, 0]))
    v = parse_rtp(data)
    assert v is not None
    assert audio_level(data, v, 1) == (True, 30)


def test_silence_without_voice_flag() -> None:
    data = packet_with_ext(0xBEDE, bytes([0x22, 0x01, 0x02, 0x03, 0x10, 127, 0, 0]))
    v = parse_rtp(data)
    assert v is not None
    assert audio_level(data, v, 1) == (False, 127)


def test_two_byte_profile_is_read_too() -> None:
    data = packet_with_ext(0x1000, bytes([3, 1, 0x85, 0]))
    v = parse_rtp(data)
    assert v is not None
    assert audio_level(data, v, 3) == (True, 5)


def test_missing_extension_gives_none() -> None:
    data = packet_with_ext(0xBEDE, bytes([0x20, 0x85, 0, 0]))
    v = parse_rtp(data)
    assert v is not None
    assert audio_level(data, v, 1) is None
    plain = struct.pack("!BBHII", 0x80, 111, 1, 960, 5) + b"opus"
    pv = parse_rtp(plain)
    assert pv is not None and audio_level(plain, pv, 1) is None


def test_level_survives_forwarding_with_remapped_id() -> None:
    data = packet_with_ext(0xBEDE, bytes([0x30, 0x80 | 44, 0x51, 0xAA, 0xBB, 0, 0, 0]))
    v = parse_rtp(data)
    assert v is not None
    out = rewrite_rtp(data, v, payload_type=100, seq=2, timestamp=3, ssrc=4, keep_extensions={3: 1})
    ov = parse_rtp(out)
    assert ov is not None
    assert audio_level(out, ov, 1) == (True, 44)
    assert audio_level(out, ov, 5) is None
