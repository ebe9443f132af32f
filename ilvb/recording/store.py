"""Recording rows: the :class:`RecordingStore` protocol and the in-memory store.

The SQL store is :class:`ilvb.store.recordings_sql.SqlRecordingStore` (table ``recordings``).
States: ``starting`` → ``recording`` → ``stopping`` → ``stopped``; ``interrupted`` when the
recorder or the server died while it ran (the files written so far stay listed); ``failed``
when it never started.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, Protocol

State = Literal["starting", "recording", "stopping", "stopped", "interrupted", "failed"]
RUNNING_STATES: frozenset[str] = frozenset({"starting", "recording", "stopping"})
Mode = Literal["tracks", "composite"]


@dataclass(frozen=True)
class RecordingRecord:
    """One recording as stored."""

    recording_id: str
    app_id: str
    room: str
    kind: str  # "room" | "call"
    mode: str
    state: str
    started_at: float
    stopped_at: float | None = None
    reason: str | None = None  # why it ended: stopped, room_closed, recorder_died, server_restart …
    cpu_s: float = 0.0


class RecordingStore(Protocol):
    """Where recording rows live."""

    async def put(self, record: RecordingRecord) -> None:
        """Insert or replace a row."""
        ...

    async def get(self, app_id: str, recording_id: str) -> RecordingRecord | None:
        """One row of the app, or None."""
        ...

    async def for_app(self, app_id: str) -> list[RecordingRecord]:
        """The app's rows, newest first."""
        ...

    async def delete(self, app_id: str, recording_id: str) -> None:
        """Remove a row."""
        ...

    async def interrupt_running(self, now: float) -> list[RecordingRecord]:
        """Rows still running (the previous server process died): mark them ``interrupted``."""
        ...


class MemoryRecordingStore:
    """Recording rows in a dict (beside a memory app store; lost at exit)."""

    def __init__(self) -> None:
        self.rows: dict[str, RecordingRecord] = {}

    async def put(self, record: RecordingRecord) -> None:
        self.rows[record.recording_id] = record

    async def get(self, app_id: str, recording_id: str) -> RecordingRecord | None:
        row = self.rows.get(recording_id)
        return row if row is not None and row.app_id == app_id else None

    async def for_app(self, app_id: str) -> list[RecordingRecord]:
        rows = [r for r in self.rows.values() if r.app_id == app_id]
        return sorted(rows, key=lambda r: r.started_at, reverse=True)

    async def delete(self, app_id: str, recording_id: str) -> None:
        if (row := self.rows.get(recording_id)) is not None and row.app_id == app_id:
            del self.rows[recording_id]

    async def interrupt_running(self, now: float) -> list[RecordingRecord]:
        out = []
        for key, row in list(self.rows.items()):
            if row.state in RUNNING_STATES:
                row = replace(row, state="interrupted", stopped_at=now, reason="server_restart")
                self.rows[key] = row
                out.append(row)
        return out


class AutoRecordStore(Protocol):
    """Per app: the mode every new room is recorded in, or None."""

    async def auto_mode(self, app_id: str) -> str | None:
        """The app's automatic recording mode (None: off)."""
        ...

    async def set_auto_mode(self, app_id: str, mode: str | None) -> None:
        """Turn automatic recording on (a mode) or off (None)."""
        ...


class MemoryAutoRecordStore:
    """Automatic recording settings in a dict."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}

    async def auto_mode(self, app_id: str) -> str | None:
        return self.modes.get(app_id)

    async def set_auto_mode(self, app_id: str, mode: str | None) -> None:
        if mode is None:
            self.modes.pop(app_id, None)
        else:
            self.modes[app_id] = mode
