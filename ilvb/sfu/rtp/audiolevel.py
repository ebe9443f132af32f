"""The client-to-mixer audio level header extension (RFC 6464).

One byte: ``V`` (voice activity, top bit) and the level as ``-dBov`` in 0..127 (0 = loudest,
127 = silence; digital silence is 127). Chrome negotiates it as
``urn:ietf:params:rtp-hdrext:ssrc-audio-level`` and sends it in the one-byte header form. The
SFU reads it on every audio packet to feed :class:`ilvb.sfu.selection.AudioSelector`.
"""

from __future__ import annotations

from ilvb.sfu.rtp.packet import RtpView, get_extension

AUDIO_LEVEL_URI = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
# the level of a packet without the extension: silence
SILENT = 127


def audio_level(data: bytes, view: RtpView, ext_id: int) -> tuple[bool, int] | None:
    """``(voice_activity, level)`` from extension ``ext_id``, or ``None`` when absent/empty."""
    value = get_extension(data, view, ext_id)
    if not value:
        return None
    b = value[0]
    return b >= 0x80, b & 0x7F
