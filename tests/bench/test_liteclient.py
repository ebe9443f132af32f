"""The benchmark's lite WebRTC endpoint: packetization, tags, counting, a direct loopback run."""

from __future__ import annotations

import asyncio
import struct

import pytest

from bench.liteclient import LitePublisher, LiteSubscriber, connect_pair, use_only_address
from bench.litemedia import (
    MAGIC,
    HeaderExtensions,
    RtpStream,
    SendLog,
    encode_clip,
    is_rtcp,
    read_tag,
    rtp_ssrc,
)


def test_rtp_stream_builds_header_extension_payload_and_tag() -> None:
    ext = HeaderExtensions(mid=4, audio_level=1).build("0", 30)
    stream = RtpStream(ssrc=0x11223344, payload_type=111, extension=ext, seq=0xFFFF, timestamp=1000)
    pkt = stream.packet(b"opus", marker=True, tag=77)
    first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", pkt)
    assert first == 0x90  # version 2, extension bit
    assert second == 0x80 | 111  # marker + payload type
    assert (seq, ts, ssrc) == (0xFFFF, 1000, 0x11223344)
    profile, words = struct.unpack_from("!HH", pkt, 12)
    assert profile == 0xBEDE and len(ext) == 4 + 4 * words
    assert pkt[16:18] == bytes([0x10, 0x80 | 30])  # audio level id 1, voice, -30 dBov
    assert pkt[18:20] == bytes([0x40, ord("0")])  # mid id 4, one byte
    assert pkt[12 + len(ext) : -8] == b"opus"
    assert pkt[-8:-4] == MAGIC and read_tag(pkt) == 77
    assert rtp_ssrc(pkt) == 0x11223344
    assert stream.seq == 0  # wrapped
    assert not is_rtcp(pkt)


def test_read_tag_rejects_untagged_and_short_packets() -> None:
    plain = RtpStream(ssrc=1, payload_type=96).packet(b"x" * 20, False, 5)
    assert read_tag(plain[:-8] + b"NOPE" + plain[-4:]) is None
    assert read_tag(b"\x80" * 10) is None
    assert is_rtcp(bytes([0x81, 201, 0, 1]))


def test_send_log_window_selects_tags_by_send_time() -> None:
    log = SendLog()
    for t in (1.0, 1.5, 2.0, 2.5, 3.0):
        log.next_tag(t, video=t > 2)
    assert list(log.tags_between(1.5, 3.0)) == [1, 2, 3]
    assert list(log.kinds) == [0, 0, 0, 1, 1]


@pytest.mark.timeout(60)
async def test_direct_pair_delivers_every_tag_in_order_with_counts_per_ssrc() -> None:
    use_only_address("127.0.0.1")
    clip = encode_clip(seconds=0.5)
    assert clip.width == 640 and len(clip.video[0]) > len(clip.video[1])  # keyframe first
    log = SendLog()
    pub, sub, a, b = await connect_pair(clip, log)
    try:
        assert isinstance(pub, LitePublisher) and isinstance(sub, LiteSubscriber)
        await pub.run(1.0)
        for _ in range(200):  # poll up to 10 s
            if len(sub.tags) >= len(log.times):
                break
            await asyncio.sleep(0.05)
    finally:
        await a.close()
        await b.close()
    sent = len(log.times)
    audio = sum(1 for k in log.kinds if k == 0)
    assert audio >= 40  # ~50 Opus packets in 1 s, tolerant of a loaded machine
    assert sorted(sub.tags) == list(range(sent))
    assert sub.counts == {pub.audio_ssrc: audio, pub.video_ssrc: sent - audio}
    assert all(arr >= log.times[tag] for tag, arr in zip(sub.tags, sub.arrivals, strict=True))
    assert a.srtp_errors == b.srtp_errors == 0
    assert b.kernel_timestamps  # arrival = kernel receive time (Linux SO_TIMESTAMPNS)
