"""Round-trip time estimate of one path (RFC 6298's smoothed RTT and variation, in seconds).

Samples come from RTCP report blocks that echo our SRs (``rtcp.rtt_from_report``, the
subscriber side) or from NACK → retransmission round trips (``nack.NackGenerator``, the
publisher side, where no report block echoes us). Until the first sample the estimate is
``DEFAULT_RTT_S``.
"""

from __future__ import annotations

# Before any sample (seconds): libwebrtc's default for an unknown path.
DEFAULT_RTT_S = 0.1
# A sample above this is a bogus report, not a path (seconds).
MAX_SAMPLE_S = 5.0
# RFC 6298 §2: gains of the smoothed RTT and of its mean deviation.
ALPHA = 1 / 8
BETA = 1 / 4


class RttEstimator:
    """Smoothed RTT (``srtt``) and mean deviation (``rttvar``) of one path, in seconds."""

    __slots__ = ("srtt", "rttvar", "samples")

    def __init__(self) -> None:
        self.srtt = DEFAULT_RTT_S
        self.rttvar = DEFAULT_RTT_S / 2
        self.samples = 0

    def update(self, sample_s: float) -> None:
        """Fold in one round trip (ignored when negative or above ``MAX_SAMPLE_S``)."""
        if not 0.0 <= sample_s <= MAX_SAMPLE_S:
            return
        if self.samples == 0:
            self.srtt = sample_s
            self.rttvar = sample_s / 2
        else:
            self.rttvar += BETA * (abs(self.srtt - sample_s) - self.rttvar)
            self.srtt += ALPHA * (sample_s - self.srtt)
        self.samples += 1

    @property
    def upper(self) -> float:
        """``srtt + 2·rttvar``: a round trip that few answers exceed (about the 95th
        percentile for a normal spread; a retry or a repeat sooner than this is premature)."""
        return self.srtt + 2.0 * self.rttvar
