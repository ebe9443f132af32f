"""Server-side audio mixing: one PCM stream out of the speakers a composite hears.

Each source (a receive slot) has a FIFO of 48 kHz interleaved stereo s16 samples. The
composite's clock pulls fixed blocks: every source contributes its oldest samples (silence
when it has none), the sum is clipped to 16 bits. A FIFO longer than ``max_buffer_ms`` (a
source that bursts after a stall) drops its oldest samples, so one late speaker never delays
the mix.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

RATE = 48000
CHANNELS = 2


class AudioMixer:
    """Sums the sources' PCM into fixed blocks on the composite's clock."""

    def __init__(self, max_buffer_ms: int = 200) -> None:
        self._fifos: dict[str, npt.NDArray[np.int16]] = {}
        self._max = RATE * max_buffer_ms // 1000 * CHANNELS
        self.dropped_samples = 0

    def push(self, source: str, samples: npt.NDArray[np.int16]) -> None:
        """Append interleaved stereo s16 samples of ``source``."""
        fifo = self._fifos.get(source)
        fifo = samples.copy() if fifo is None else np.concatenate((fifo, samples))
        if fifo.size > self._max:
            excess = fifo.size - self._max
            excess += excess % CHANNELS
            self.dropped_samples += excess // CHANNELS
            fifo = fifo[excess:]
        self._fifos[source] = fifo

    def remove(self, source: str) -> None:
        """Forget a source (its slot closed)."""
        self._fifos.pop(source, None)

    def pull(self, frames: int) -> npt.NDArray[np.int16]:
        """The next ``frames`` stereo frames of the mix (interleaved s16)."""
        need = frames * CHANNELS
        mix = np.zeros(need, dtype=np.int32)
        for source, fifo in self._fifos.items():
            take = min(need, fifo.size)
            if take:
                mix[:take] += fifo[:take]
                self._fifos[source] = fifo[take:]
        return np.clip(mix, -32768, 32767).astype(np.int16)
