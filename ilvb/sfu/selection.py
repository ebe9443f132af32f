"""Audio selection: which members each listener hears when more members speak than it has slots.

A listener's receive transport has ``slots`` audio m-lines (the app's audio-sender cap, default
6). When more members send audio, each listener gets the ``slots`` loudest of those it may hear
(``audio_from``), never itself. The router calls :meth:`AudioSelector.update` with every audio
packet's RFC 6464 level, :meth:`AudioSelector.poll` on a timer, and :meth:`AudioSelector.select`
per listener when ``poll`` says the answer may have changed.

Why it is built this way, in the order the decisions are taken:

1. **Loudness is smoothed energy, not the last packet's level.** A level is ``-dBov`` of one
   20 ms frame: speech swings 20-30 dB between syllables, so ranking by the last packet would
   swap speakers several times a second. Each member keeps an exponential moving average of
   *linear* energy ``10 ** (-level / 10)`` with time constant ``SMOOTHING_S`` (300 ms), weighted
   by the real time between packets (``alpha = 1 - exp(-dt / tau)``) so 20 ms, 60 ms and DTX
   packet spacing all give the same average. Averaging energy (not dB) gives a fast attack and
   a slow release: one loud frame moves a quiet average a lot, a pause moves a loud one down
   only ~4.3 dB per ``SMOOTHING_S`` — a speaker is not dropped between two words.
2. **No packets means silence.** Between packets the average decays toward silence as if silent
   frames had arrived; a member with no packet for ``SILENCE_AFTER_S`` (1 s) is not a candidate
   at all (muted, left, or its producer stopped) and its slot frees immediately.
3. **Few speakers: no contest.** When a listener has at most ``slots`` candidates it hears them
   all; hysteresis only matters when someone must be left out.
4. **Incumbents are kept unless clearly beaten (hysteresis).** A member selected for this
   listener keeps its slot unless a challenger is louder by ``margin_db`` (6 dB: 4x the energy)
   *and* the incumbent has held the slot for ``hold_s`` (500 ms). Near-equal speakers never
   flap; a clearly louder newcomer gets in after at most ``hold_s``. The quietest beatable
   incumbent whose hold is over is the one that goes; swaps repeat while one qualifies.
5. **Free slots are filled loudest first**, ties broken by member id so the result is
   deterministic for a given ``now``.
6. **Re-evaluate on change only.** ``select`` runs per listener, so it must not run per
   packet. :meth:`poll` (O(members)) returns True when the set of active members changed, when
   the global top ``slots + 1`` (computed with the same hysteresis) changed — a listener that
   hears everyone picks from that set, minus itself — or when a swap blocked only by the hold
   time becomes due. Listeners with an ``audio_from`` subset may depend on members outside the
   global top, so while any exists ``poll`` also says True every ``RESTRICTED_REFRESH_S``.

All times are seconds on one monotonic clock passed in as ``now``: no clock reads here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

# Time constant of the loudness average (seconds).
SMOOTHING_S = 0.300
# A member without packets for this long is not a candidate (seconds).
SILENCE_AFTER_S = 1.0
# Packet spacing assumed for a member's first packet (seconds).
FIRST_PACKET_DT_S = 0.020
# A challenger must be this much louder than an incumbent to replace it (dB).
MARGIN_DB = 6.0
# An incumbent keeps its slot at least this long after getting it (seconds).
HOLD_S = 0.500
# While a listener listens to a subset, poll() says True at least this often (seconds).
RESTRICTED_REFRESH_S = 1.0

# RFC 6464 level (0 = 0 dBov loudest .. 127 = -127 dBov silence) -> linear energy
_ENERGY = tuple(10.0 ** (-lvl / 10.0) for lvl in range(128))
SILENT_ENERGY = _ENERGY[127]
_GLOBAL = "\x00global"  # the internal listener for poll()'s top set


class _Member:
    """Smoothed loudness of one sending member."""

    __slots__ = ("energy", "last")

    def __init__(self, energy: float, last: float) -> None:
        self.energy = energy
        self.last = last


class AudioSelector:
    """Per-listener choice of the ``slots`` loudest audio senders, with hysteresis.

    Owns the loudness of every sending member of one router and, per listener, the members
    currently selected and since when (module docstring: the rules, in order).
    """

    def __init__(
        self,
        slots: int = 6,
        *,
        margin_db: float = MARGIN_DB,
        hold_s: float = HOLD_S,
        smoothing_s: float = SMOOTHING_S,
        silence_after_s: float = SILENCE_AFTER_S,
    ) -> None:
        if slots < 1:
            raise ValueError("slots must be >= 1")
        self.slots = slots
        self.margin_db = margin_db
        self.hold_s = hold_s
        self.smoothing_s = smoothing_s
        self.silence_after_s = silence_after_s
        self._members: dict[str, _Member] = {}
        # listener -> {selected member: time it got the slot}
        self._selected: dict[str, dict[str, float]] = {}
        self._restricted: set[str] = set()
        # poll() state
        self._active_sig: frozenset[str] = frozenset()
        self._top_sig: frozenset[str] = frozenset()
        self._recheck_at = math.inf
        self._refresh_at = -math.inf

    # -- per packet ---------------------------------------------------------------------------

    def update(self, member_id: str, level: int, now: float) -> None:
        """Feed one audio packet's RFC 6464 level (0 loudest .. 127 silent) from ``member_id``."""
        energy = _ENERGY[level & 0x7F]
        m = self._members.get(member_id)
        if m is None:
            # rule 1: start from silence, as if one packet interval had passed
            alpha = 1.0 - math.exp(-FIRST_PACKET_DT_S / self.smoothing_s)
            self._members[member_id] = _Member(
                SILENT_ENERGY + alpha * (energy - SILENT_ENERGY), now
            )
            return
        dt = now - m.last
        if dt <= 0.0:
            # same instant (a burst): average the frames without moving time
            dt = FIRST_PACKET_DT_S
        else:
            m.last = now
        m.energy += (1.0 - math.exp(-dt / self.smoothing_s)) * (energy - m.energy)

    def remove(self, member_id: str) -> None:
        """Forget a member: as a sender (producer closed) and as a listener."""
        self._members.pop(member_id, None)
        self._selected.pop(member_id, None)
        self._restricted.discard(member_id)
        for chosen in self._selected.values():
            chosen.pop(member_id, None)

    # -- loudness -----------------------------------------------------------------------------

    def loudness_db(self, member_id: str, now: float) -> float | None:
        """Smoothed loudness in dBov (-127 .. 0) at ``now``; ``None`` if not sending (rule 2)."""
        m = self._members.get(member_id)
        if m is None:
            return None
        return self._db(m, now)

    def _db(self, m: _Member, now: float) -> float | None:
        idle = now - m.last
        if idle > self.silence_after_s:
            return None
        energy = m.energy
        if idle > 0.0:
            # rule 2: decay toward silence for the time without packets
            energy = SILENT_ENERGY + (energy - SILENT_ENERGY) * math.exp(-idle / self.smoothing_s)
        return 10.0 * math.log10(energy)

    def _loudness(self, now: float, only: Iterable[str] | None) -> dict[str, float]:
        """dB of every active member (of ``only`` when given)."""
        members = self._members
        out: dict[str, float] = {}
        items: Iterable[tuple[str, _Member]]
        if only is None:
            items = members.items()
        else:
            items = ((k, members[k]) for k in only if k in members)
        for k, m in items:
            db = self._db(m, now)
            if db is not None:
                out[k] = db
        return out

    # -- per listener -------------------------------------------------------------------------

    def select(self, listener: str, audio_from: frozenset[str] | None, now: float) -> list[str]:
        """The members ``listener`` hears now, loudest first (at most ``slots``, never itself).

        ``audio_from``: the members it may hear (``None`` = everyone). Updates the listener's
        hysteresis state, so call it when :meth:`poll` says so or the subscription changed.
        """
        if audio_from is None:
            self._restricted.discard(listener)
        else:
            self._restricted.add(listener)
        loud = self._loudness(now, audio_from)
        loud.pop(listener, None)
        return self._choose(listener, loud, self.slots, now)

    def _choose(self, listener: str, loud: dict[str, float], k: int, now: float) -> list[str]:
        """Rules 3-5 for one listener over candidates ``loud`` (member -> dB)."""
        prev = self._selected.get(listener, {})
        # incumbents still sending keep their start time; gone ones free their slot (rule 2)
        chosen = {m: since for m, since in prev.items() if m in loud}
        # rule 5: challengers loudest first, ties by member id
        challengers = sorted((m for m in loud if m not in chosen), key=lambda m: (-loud[m], m))
        # rule 3 / 5: fill free slots
        free = k - len(chosen)
        for m in challengers[:free]:
            chosen[m] = now
        challengers = challengers[max(free, 0) :]
        # rule 4: replace the quietest incumbent while a challenger clearly beats it
        margin = self.margin_db
        for c in challengers:
            beatable = [m for m in chosen if loud[c] >= loud[m] + margin]
            if not beatable:
                break  # challengers are sorted: nobody further down can win either
            ripe = [m for m in beatable if now - chosen[m] >= self.hold_s]
            if not ripe:
                # it would win once a hold ends: make poll() say so then
                due = min(chosen[m] for m in beatable) + self.hold_s
                self._recheck_at = min(self._recheck_at, due)
                break
            victim = min(ripe, key=lambda m: (loud[m], m))
            del chosen[victim]
            chosen[c] = now
        self._selected[listener] = chosen
        return sorted(chosen, key=lambda m: (-loud[m], m))

    def selected(self, listener: str) -> list[str]:
        """The listener's current selection as of its last :meth:`select` (unordered)."""
        return list(self._selected.get(listener, ()))

    def forget_listener(self, listener: str) -> None:
        """Drop a listener's hysteresis state (it left or its receive transport closed)."""
        self._selected.pop(listener, None)
        self._restricted.discard(listener)

    # -- change detection ---------------------------------------------------------------------

    def poll(self, now: float) -> bool:
        """True when listeners' selections may have changed since the last True (rule 6).

        Cheap (one pass over the members): call it every 50-100 ms and re-run :meth:`select`
        for every listener when it returns True.
        """
        loud = self._loudness(now, None)
        active = frozenset(loud)
        top = frozenset(self._choose(_GLOBAL, loud, self.slots + 1, now))
        changed = active != self._active_sig or top != self._top_sig
        self._active_sig = active
        self._top_sig = top
        if now >= self._recheck_at:
            self._recheck_at = math.inf
            changed = True
        if self._restricted and now >= self._refresh_at:
            changed = True
        if changed:
            self._refresh_at = now + RESTRICTED_REFRESH_S
        return changed

    def top(self) -> frozenset[str]:
        """The global top ``slots + 1`` members as of the last :meth:`poll`."""
        return self._top_sig
