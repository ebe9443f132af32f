"""Room-wide event fan-out with enter/exit/connection coalescing (every member gets every event).

Cost model: one flush serializes each event once and queues it on every member's outbox, so a
batch of k enters/exits in a room of n members costs O(n + k²) string work (the k² only for the
members who entered inside the batch, whose event lists start later), never O(n·k) JSON encoding
and never O(n²) per join storm. Connection changes (a member entering or leaving its disconnect
window) are batched the same way, so a mass disconnect costs a few ``members.state`` frames per
member instead of one ``member.state`` frame per disconnected member per member.

Exactly-once rule: an op with room sequence ``s`` goes to each member present at flush time
whose own entry sequence is below ``s`` (it was in the room when the op happened). A member
learns about the members before it from ``room.members``; it never sees its own entry.
"""

from __future__ import annotations

import asyncio
import logging
from bisect import bisect_right
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ilvb.rooms.member import Member
from ilvb.rooms.wire import batch_frame_parts, state_frame

log = logging.getLogger(__name__)

# The batch window grows with the room: a flush costs about one queued frame per member
# (~20-40 µs each through the WebSocket stack), so waiting 0.1 ms per member keeps fan-out below
# roughly a third of one core however large the room and however fast members join.
WINDOW_S_PER_MEMBER = 0.0001
MAX_WINDOW_S = 5.0
# Members served per event-loop iteration when a batch is handed out (joins are read between).
SLICE_MEMBERS = 512


@dataclass(frozen=True)
class MembershipOp:
    """One pending enter, exit or state change: ``item`` is the MemberState (enter, state) or the
    user id (exit), as JSON."""

    seq: int
    kind: str  # "entered" | "exited" | "state"
    reason: str | None
    item: str


class MembershipBatcher:
    """Coalesces ``members.entered`` / ``members.exited`` / ``members.state`` events and flushes
    them to the room.

    Small rooms (below ``min_members``) flush at once; larger ones wait ``window_s`` (or 0.1 ms
    per member when that is longer, at most 5 s) so a join storm becomes a few large frames per
    member instead of one frame per join per member.
    """

    def __init__(
        self,
        recipients: Callable[[], Iterable[Member]],
        size: Callable[[], int],
        window_s: float,
        min_members: int,
    ) -> None:
        self._recipients = recipients
        self._size = size
        self._window_s = window_s
        self._min_members = min_members
        self._ops: list[MembershipOp] = []
        self._timer: asyncio.TimerHandle | None = None
        self._inflight: _Delivery | None = None
        self._step_handle: asyncio.Handle | None = None
        self.flushes = 0

    def add(self, op: MembershipOp) -> None:
        """Queue an op; flush now in a small room, else within the batch window."""
        self._ops.append(op)
        if self._window_s <= 0 or self._size() < self._min_members:
            self.flush()
            return
        if self._timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            self._timer = loop.call_later(self.window_s(), self.flush)

    def window_s(self) -> float:
        """How long ops wait before a flush in a room of the current size."""
        return min(MAX_WINDOW_S, max(self._window_s, self._size() * WINDOW_S_PER_MEMBER))

    def pending(self) -> int:
        """Ops not yet handed to every member (queued or being delivered)."""
        return len(self._ops) + (self._inflight.size if self._inflight is not None else 0)

    def flush(self, *, complete: bool = False) -> None:
        """Send every pending op to every member that should get it, in order.

        Large rooms are served ``SLICE_MEMBERS`` members per event-loop iteration so requests
        (joins) are read in between; ``complete=True`` (used before any other room event, and
        implied by :meth:`flush_to`) hands everything over before returning.
        """
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._finish()
        ops, self._ops = self._ops, []
        if not ops:
            return
        self.flushes += 1
        delivery = _Delivery(ops, list(self._recipients()))
        if complete or delivery.step(SLICE_MEMBERS):
            delivery.step(len(delivery.recipients))
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (synchronous use): hand everything over now
            delivery.step(len(delivery.recipients))
            return
        self._inflight = delivery
        self._step_handle = loop.call_soon(self._continue)

    def flush_to(self, member: Member) -> None:
        """Send ``member`` its share of the pending ops now (it is about to leave the room)."""
        self._finish()
        if not self._ops or member.outbox is None:
            return
        _Delivery(self._ops, [member]).step(1)

    def close(self) -> None:
        """Drop pending ops and the timer (the room is gone)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._step_handle is not None:
            self._step_handle.cancel()
            self._step_handle = None
        self._inflight = None
        self._ops = []

    def _continue(self) -> None:
        self._step_handle = None
        delivery = self._inflight
        if delivery is None:
            return
        if delivery.step(SLICE_MEMBERS):
            self._inflight = None
        else:
            self._step_handle = asyncio.get_running_loop().call_soon(self._continue)

    def _finish(self) -> None:
        """Complete an in-flight delivery synchronously (ordering before anything newer)."""
        delivery = self._inflight
        if delivery is None:
            return
        self._inflight = None
        if self._step_handle is not None:
            self._step_handle.cancel()
            self._step_handle = None
        delivery.step(len(delivery.recipients))


class _Delivery:
    """One flushed batch being handed to a snapshot of the room's members, in slices."""

    def __init__(self, ops: list[MembershipOp], recipients: list[Member]) -> None:
        self.size = len(ops)
        self.recipients = recipients
        self.index = 0
        self._seqs = [op.seq for op in ops]
        self._plan = _BatchFrames(ops)
        self._frames_from: dict[int, list[str]] = {}

    def step(self, count: int) -> bool:
        """Deliver to the next ``count`` members; True when everyone has been served."""
        seqs = self._seqs
        first = seqs[0]
        end = min(len(self.recipients), self.index + count)
        for member in self.recipients[self.index : end]:
            # Gone (left, replaced) or away (disconnect window) since the snapshot: skip.
            if member.outbox is None or member.room is None:
                continue
            # Members present before the batch get all of it; later ones a suffix.
            start = 0 if member.seq < first else bisect_right(seqs, member.seq)
            if start >= len(seqs):
                continue
            frames = self._frames_from.get(start)
            if frames is None:
                frames = self._frames_from[start] = self._plan.frames_from(start)
            for frame in frames:
                member.outbox.send(frame)
        self.index = end
        return end >= len(self.recipients)


class _BatchFrames:
    """The frames of one batch, cheap to cut at any op.

    Consecutive ops of the same kind (and reason) form a run, sent as one event. Each run's
    items are joined once; a suffix starting inside a run is a string slice at a known offset,
    so the members who entered inside the batch cost one memcpy each, not a re-encode. A state
    run of one item is sent as the plain ``member.state`` event.
    """

    def __init__(self, ops: list[MembershipOp]) -> None:
        # Runs: (first op index, end index, head, joined items, item offsets, tail).
        self._runs: list[tuple[int, int, str, str, list[int], str]] = []
        self._single_state: list[str | None] = []  # per op: its member.state frame, for state ops
        self._run_of: list[int] = []
        i = 0
        while i < len(ops):
            kind, reason = ops[i].kind, ops[i].reason
            j = i
            while j < len(ops) and ops[j].kind == kind and ops[j].reason == reason:
                j += 1
            offsets: list[int] = []
            pos = 0
            for op in ops[i:j]:
                offsets.append(pos)
                pos += len(op.item) + 1
            joined = ",".join(op.item for op in ops[i:j])
            head, tail = batch_frame_parts(kind, reason)
            self._single_state.extend(
                state_frame(op.item) if kind == "state" else None for op in ops[i:j]
            )
            self._run_of.extend([len(self._runs)] * (j - i))
            self._runs.append((i, j, head, joined, offsets, tail))
            i = j
        self._full: list[str | None] = [None] * len(self._runs)

    def frames_from(self, start: int) -> list[str]:
        """The frames for a member that should see ops ``start`` … end."""
        run = self._run_of[start]
        first, end, head, joined, offsets, tail = self._runs[run]
        single = self._single_state[start] if end - start == 1 else None
        frames = [single or head + joined[offsets[start - first] :] + tail]
        for later in range(run + 1, len(self._runs)):
            full = self._full[later]
            if full is None:
                f, e, h, js, _o, t = self._runs[later]
                single = self._single_state[f] if e - f == 1 else None
                full = self._full[later] = single or h + js + t
            frames.append(full)
        return frames
