"""Wraparound arithmetic for RTP sequence numbers (16 bit) and timestamps (32 bit).

Every comparison of sequence numbers or timestamps in the SFU goes through these helpers so the
wraparound rule lives in one place (RFC 3550 §A.1; aiortc ``utils.py``, mediasoup
``SeqManager.cpp``). A value ``a`` is *newer* than ``b`` when the forward distance from ``b`` to
``a`` is less than half the number space.

The munger, the NACK generator, the reception statistics and the RTCP NACK codec use them; on
the per-packet path (``RtpMunger.rewrite``/``forward``, ``NackGenerator.on_packet``,
``ReceptionStats.on_packet``) :func:`seq_diff` / :func:`ts_diff` are written out with these
constants instead of called (a call per packet per subscriber is measurable), each marked
"inlined".
"""

from __future__ import annotations

SEQ_MOD = 1 << 16
SEQ_MASK = SEQ_MOD - 1
SEQ_HALF = 1 << 15
TS_MOD = 1 << 32
TS_MASK = TS_MOD - 1
TS_HALF = 1 << 31


def seq_diff(a: int, b: int) -> int:
    """Signed 16-bit distance ``a - b`` in ``[-32768, 32767]`` (positive: ``a`` is newer)."""
    return ((a - b + SEQ_HALF) & SEQ_MASK) - SEQ_HALF


def seq_newer(a: int, b: int) -> bool:
    """True when ``a`` comes strictly after ``b`` in 16-bit sequence space."""
    return 0 < ((a - b) & SEQ_MASK) < SEQ_HALF


def seq_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**16 (``n`` may be negative)."""
    return (a + n) & SEQ_MASK


def ts_diff(a: int, b: int) -> int:
    """Signed 32-bit distance ``a - b`` in ``[-2**31, 2**31 - 1]``."""
    return ((a - b + TS_HALF) & TS_MASK) - TS_HALF


def ts_newer(a: int, b: int) -> bool:
    """True when timestamp ``a`` comes strictly after ``b`` in 32-bit space."""
    return 0 < ((a - b) & TS_MASK) < TS_HALF


def ts_add(a: int, n: int) -> int:
    """``a + n`` modulo 2**32 (``n`` may be negative)."""
    return (a + n) & TS_MASK
