"""What a recording mode implements: a job per recording, and (for ``composite``) a runner."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ilvb.recording.taps import RoomTaps


class RecordingJob(Protocol):
    """One running recording: its process(es) and the files they write. A job may also have
    ``t0``: the wall clock (Unix seconds) its files' timestamps count from (the recording's
    ``started_at``)."""

    async def stop(self) -> None:
        """Clean close: every file complete when this returns."""
        ...

    def files(self) -> list[Path]:
        """The files written so far (inside the job's output directory)."""
        ...

    def cpu_seconds(self) -> float:
        """CPU time used by the job's process(es) so far."""
        ...

    async def wait(self) -> int | None:
        """Return when the job ended on its own (its process exit code), e.g. a crash."""
        ...


class CompositeRunner(Protocol):
    """Starts ``composite`` jobs (a separate recorder process that decodes, mixes, encodes)."""

    async def start(self, taps: RoomTaps, output_dir: Path) -> RecordingJob:
        """Start a composite of the room into ``output_dir``; refuses (an ``IlvbError``) when
        the node cannot take another."""
        ...
