"""A member of a room: one user's identity, permissions, media state and event outbox."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ilvb.rooms import wire
from ilvb.rooms.permissions import Permissions
from ilvb.sfu.api import Source

if TYPE_CHECKING:
    from ilvb.rooms.clock import TimerHandle
    from ilvb.rooms.room import Room


class Outbox(Protocol):
    """Where a member's events go: a connection's non-blocking send queue."""

    def send(self, frame: str) -> None:
        """Queue one text frame; never blocks (a full queue drops the connection instead)."""
        ...


@dataclass(eq=False)
class Member:
    """One user inside one room incarnation.

    ``seq`` orders members by entry (and is the paging cursor). ``outbox`` is None while the
    member's connection is gone (the disconnect window); events are then not queued for it.
    """

    user_id: str
    role: str
    ceiling: Permissions
    permissions: Permissions
    seq: int
    entered_at: float
    # What a stage invitation from a member may grant (the ticket's ``priv``; for an
    # ``audience`` ticket it differs from ``ceiling``, which starts empty). None = ``ceiling``.
    invitable_ceiling: Permissions | None = None
    outbox: Outbox | None = None
    sending: set[Source] = field(default_factory=set)
    muted: set[Source] = field(default_factory=set)
    connected: bool = True
    # The SFU hears nothing on its media transports (path lost); it is restarting ICE.
    reconnecting: bool = False
    # Views in slot order: (member, source).
    views: list[tuple[str, Source]] = field(default_factory=list)
    not_listening: set[str] = field(default_factory=set)
    room: Room | None = None
    timer: TimerHandle | None = None
    # The signaling session that owns this member (opaque to the rooms package).
    session: Any = None
    # A transport.closed the member missed while away: ("send"|"recv"|"both", reason).
    lost_transport: tuple[str, str] | None = None
    # The cap on the SFU's bandwidth feedback to this member's publisher (bits/s; the server
    # sets it from the member's quality profile), re-applied when the media restarts.
    send_cap_bps: int | None = None

    @property
    def invitable(self) -> Permissions:
        """What a member's stage invitation may grant this member."""
        return self.invitable_ceiling if self.invitable_ceiling is not None else self.ceiling

    @property
    def on_stage(self) -> bool:
        """Brought on stage by an accepted invitation."""
        return self.room is not None and self.user_id in self.room.stage.seats

    @property
    def hand_raised(self) -> bool:
        """Its hand is up (asks to speak)."""
        return self.room is not None and self.room.stage.hand_raised(self.user_id)

    @property
    def sends_video(self) -> bool:
        """Sending camera or screen."""
        return "camera" in self.sending or "screen" in self.sending

    def send(self, frame: str) -> None:
        """Queue a frame when connected; drop it while away (events are not replayed)."""
        if self.outbox is not None:
            self.outbox.send(frame)

    def state(self) -> dict[str, Any]:
        """The MemberState wire object (docs/protocol.md)."""
        return wire.member_state(self)
