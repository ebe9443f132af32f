"""Consumers are created and closed through their receive slot; a closing producer tells each
consumer, which tells its slot (the owner), and nobody else."""

from __future__ import annotations

from typing import Any

import pytest

from ilvb.sfu.consumer import ReceiveSlot
from ilvb.sfu.producer import Producer


def producer(kind: str = "video") -> Producer:
    codec, pt, rate = ("VP8", 120, 90000) if kind == "video" else ("opus", 109, 48000)
    transport: Any = None  # not used by these tests
    return Producer("alice", "camera", kind, codec, pt, rate, 1000, "0", transport)


def slot(mid: str = "v0") -> ReceiveSlot:
    transport: Any = None
    return ReceiveSlot(mid, "video", 0xABC, 90000, transport)


def test_consume_registers_the_consumer_with_its_producer_and_slot() -> None:
    p, s = producer(), slot()
    c = s.consume(p, 96)
    assert s.consumer is c and p.consumers == [c]
    assert (c.producer, c.slot, c.payload_type, c.closed) == (p, s, 96, False)
    assert c.waiting_keyframe  # video starts on a keyframe


def test_a_switch_closes_the_old_consumer_and_starts_a_new_munger_generation() -> None:
    p1, p2, s = producer(), producer(), slot()
    first = s.consume(p1, 96)
    second = s.consume(p2, 96)
    assert first.closed and not second.closed
    assert p1.consumers == [] and p2.consumers == [second] and s.consumer is second
    assert second.generation == first.generation + 1


def test_release_empties_the_slot_and_leaves_the_fan_out_list() -> None:
    p, s = producer(), slot()
    c = s.consume(p, 96)
    assert s.release() is c
    assert c.closed and s.consumer is None and p.consumers == []
    assert s.release() is None  # idempotent
    c.close()  # idempotent too


def test_a_closing_producer_tells_each_consumer_which_empties_its_slot() -> None:
    p, a, b = producer(), slot("v0"), slot("v1")
    ca, cb = a.consume(p, 96), b.consume(p, 97)
    p.close()
    p.close()
    assert ca.closed and cb.closed and a.consumer is None and b.consumer is None
    assert p.consumers == []
    with pytest.raises(RuntimeError):
        a.consume(p, 96)  # a closed producer takes no new consumer
    assert a.consumer is None


def test_a_producer_closing_after_a_switch_leaves_the_new_consumer_alone() -> None:
    old, new, s = producer(), producer(), slot()
    s.consume(old, 96)
    current = s.consume(new, 96)
    old.close()
    assert s.consumer is current and not current.closed
