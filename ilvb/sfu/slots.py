"""SlotAssigner: which producer feeds which receive slot of each member (a router's policy).

* Video slots follow ``Subscription.views`` in order (slot ``v{i}`` ← ``views[i]``).
* Audio slots carry the :class:`~ilvb.sfu.selection.AudioSelector`'s pick among ``audio_from``
  (never the listener itself). A member already in a slot keeps it and newcomers take the free
  slots, so a speaker never hops slots (the client would see a ``slot`` event for nothing).
* A slot is only fed once its receive transport is DTLS-connected and the answer told us the
  subscriber's payload types (:func:`recv_ready`); a codec the subscriber did not accept in that
  slot leaves it empty.

Every change switches the slot's consumer (:meth:`ReceiveSlot.consume`, a new munger
generation), asks a video producer for a keyframe at once, and announces a :class:`SlotChanged`
when what the slot carries changed — also when a consumer closed underneath (its producer went).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ilvb.sfu.api import SlotChanged
from ilvb.sfu.bandwidth import first_layer
from ilvb.sfu.consumer import Consumer, ReceiveSlot
from ilvb.sfu.faults import FaultLog
from ilvb.sfu.member import MemberMedia
from ilvb.sfu.producer import Producer
from ilvb.sfu.selection import AudioSelector

# (member, slot, consumer closed or None, consumer opened or None): for the router's observer
SwitchHook = Callable[[MemberMedia, ReceiveSlot, Consumer | None, Consumer | None], None]


def recv_ready(m: MemberMedia) -> bool:
    """The member's receive transport is negotiated and connected: its slots may be fed."""
    return m.recv is not None and m.recv_negotiated and m.recv.state == "connected"


class SlotAssigner:
    """Assigns producers to the receive slots of ``members`` (the router's live dict)."""

    def __init__(
        self,
        members: Mapping[str, MemberMedia],
        selector: AudioSelector,
        announce: Callable[[SlotChanged], None],
        faults: FaultLog,
        on_switch: SwitchHook | None = None,
    ) -> None:
        self._members = members
        self._selector = selector
        self._announce = announce
        self._faults = faults
        self._on_switch = on_switch
        self.switches = 0  # consumers started (tests, stats)

    def assign_all(self, now: float) -> None:
        """Re-assign every member's slots (a producer appeared, closed or was muted)."""
        for m in list(self._members.values()):
            self.assign(m, now)

    def assign(self, m: MemberMedia, now: float) -> None:
        """Re-assign one member's slots (its subscription or receive transport changed)."""
        if not recv_ready(m):
            return
        views = m.subscription.views
        for i, slot in enumerate(m.video_slots):
            producer = None
            if i < len(views):
                owner = self._members.get(views[i][0])
                producer = owner.producers.get(views[i][1]) if owner else None
            self._set_slot(m, slot, producer, now)
        self.assign_audio(m, now)

    def assign_audio(self, m: MemberMedia, now: float) -> None:
        """The selector's current pick for ``m``, incumbents kept in their slots."""
        if not m.audio_slots or not recv_ready(m):
            return
        members = self._members
        allowed = m.subscription.audio_from
        eligible = frozenset(
            other.member_id
            for other in members.values()
            if other.member_id != m.member_id
            and (allowed is None or other.member_id in allowed)
            and (p := other.producers.get("microphone")) is not None
            and p.enabled
        )
        picks = self._selector.select(m.member_id, allowed, now)[: len(m.audio_slots)]
        wanted = [members[x].producers["microphone"] for x in picks if x in eligible]
        # keep speakers in the slot they already have; newcomers take the free slots
        keep = {id(p) for p in wanted}
        free = []
        for slot in m.audio_slots:
            c = slot.consumer
            if c is not None and id(c.producer) in keep:
                keep.discard(id(c.producer))
            else:
                free.append(slot)
        newcomers = [p for p in wanted if id(p) in keep]
        for slot in free:
            self._set_slot(m, slot, newcomers.pop(0) if newcomers else None, now)

    def _set_slot(
        self, m: MemberMedia, slot: ReceiveSlot, producer: Producer | None, now: float
    ) -> None:
        if producer is not None and (not producer.enabled or producer.closed):
            producer = None
        pt = slot.payload_types.get(producer.codec) if producer is not None else None
        if producer is not None and pt is None:
            # counted, logged once: a subscriber's answer decides this, and the audio slots
            # are re-assigned up to 10 times a second
            self._faults.dropped(
                "slot.codec_not_accepted",
                f"slot {slot.mid} of {m.member_id}: codec {producer.codec} not accepted",
            )
            producer = None
        current = slot.consumer
        if current is not None and not current.closed:
            if current.producer is producer or (
                producer is not None and current.producer.parent is producer
            ):
                return  # the same track (its simulcast layer is the downlink's choice)
        if producer is not None:
            assert pt is not None
            # simulcast: start on the layer the subscriber's downlink estimate affords
            stream = first_layer(m, producer, now) if producer.layers else producer
            new = slot.consume(stream, pt)  # closes the current consumer first
            self.switches += 1
            if producer.kind == "video":
                stream.request_keyframe(now, force=True)
        else:
            new = None
            slot.release()
        if self._on_switch is not None and (current is not None or new is not None):
            self._on_switch(m, slot, current, new)
        # consumers also close underneath us (producer closed): report what the slot carries now
        announced = (producer.member_id, producer.source) if producer is not None else None
        if announced == slot.announced:
            return
        slot.announced = announced
        self._announce(
            SlotChanged(
                member_id=m.member_id,
                mid=slot.mid,
                kind=slot.kind,  # type: ignore[arg-type]
                source_member=producer.member_id if producer else None,
                source=producer.source if producer else None,  # type: ignore[arg-type]
            )
        )
