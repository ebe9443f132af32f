"""Keyframe detection on RTP payloads, without decoding (VP8: RFC 7741, H.264: RFC 6184).

The SFU must know when a packet starts a keyframe: a consumer that switched to a new source
(or just started) forwards nothing until the new source's keyframe begins, otherwise the
receiver's decoder would be fed inter frames referencing pictures it never saw.
"""

from __future__ import annotations

from collections.abc import Callable

# H.264 NAL unit types (RFC 6184 §5.2, ITU-T H.264 Table 7-1)
NAL_IDR = 5
NAL_SPS = 7
NAL_STAP_A = 24
NAL_FU_A = 28


def is_vp8_keyframe(payload: bytes) -> bool:
    """True when ``payload`` (RFC 7741) starts a VP8 keyframe.

    Only the first packet of a frame tells: the payload descriptor's S bit set with partition
    index 0, then the VP8 frame tag's P bit (bit 0 of its first byte) clear = key frame.
    """
    n = len(payload)
    if n < 1:
        return False
    b0 = payload[0]
    # S (start of partition) and PID == 0 (first partition)
    if not b0 & 0x10 or b0 & 0x07:
        return False
    pos = 1
    if b0 & 0x80:  # X: extended control bits follow
        if n < 2:
            return False
        x = payload[1]
        pos = 2
        if x & 0x80:  # I: picture id, 7 or 15 bits (M bit)
            if n <= pos:
                return False
            pos += 2 if payload[pos] & 0x80 else 1
        if x & 0x40:  # L: TL0PICIDX
            pos += 1
        if x & 0x30:  # T or K: TID/Y/KEYIDX byte
            pos += 1
    # the VP8 payload header: 3-byte frame tag (+ 7 bytes start code and size on keyframes)
    if n <= pos:
        return False
    return not payload[pos] & 0x01


def _h264_nal_is_key(nal_type: int) -> bool:
    return nal_type == NAL_IDR or nal_type == NAL_SPS


def is_h264_keyframe(payload: bytes) -> bool:
    """True when ``payload`` (RFC 6184) starts an H.264 keyframe: an IDR slice or an SPS.

    Single NAL units are checked directly, every NAL in a STAP-A, and the start fragment of a
    FU-A.
    """
    n = len(payload)
    if n < 1:
        return False
    nal_type = payload[0] & 0x1F
    # 1. single NAL unit
    if nal_type < NAL_STAP_A:
        return _h264_nal_is_key(nal_type)
    # 2. STAP-A: (16-bit size, NAL) repeated after the 1-byte header
    if nal_type == NAL_STAP_A:
        pos = 1
        while pos + 2 < n:
            size = (payload[pos] << 8) | payload[pos + 1]
            pos += 2
            if size == 0 or pos + size > n:
                return False
            if _h264_nal_is_key(payload[pos] & 0x1F):
                return True
            pos += size
        return False
    # 3. FU-A: FU header byte with S (start) bit and the fragmented NAL's type
    if nal_type == NAL_FU_A:
        return n >= 2 and bool(payload[1] & 0x80) and _h264_nal_is_key(payload[1] & 0x1F)
    return False


def _never(payload: bytes) -> bool:
    return False


_DETECTORS: dict[str, Callable[[bytes], bool]] = {
    "vp8": is_vp8_keyframe,
    "h264": is_h264_keyframe,
}


def keyframe_detector(codec: str) -> Callable[[bytes], bool]:
    """The detector for ``codec`` ("VP8", "video/H264" …); one that says False for others.

    Look it up once per producer and call it per packet.
    """
    name = codec.lower().removeprefix("video/")
    return _DETECTORS.get(name, _never)


def is_keyframe(codec: str, payload: bytes) -> bool:
    """True when ``payload`` of ``codec`` ("VP8" or "H264", any case) starts a keyframe."""
    return keyframe_detector(codec)(payload)
