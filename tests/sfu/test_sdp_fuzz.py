"""Fuzz the SDP parser with mutations of real offers and answers (hypothesis).

The seeds are SDPs captured from Chromium 156 and aiortc 1.16 (``tests/sfu/fixtures/``): two
publisher offers and two answers to the SFU's receive offer. Each example applies a few
mutations (a number swapped for an edge value, a line dropped, duplicated, moved, cut or
replaced with junk). Every result must be an accepted offer/answer or an ``invalid_sdp`` /
``unsupported_codec`` error with a plain message. An accepted one goes through a real router
(in-process, fake sockets): producers are created, RTP with the negotiated SSRC, payload type
and extension ids is forwarded, RTCP receiver/sender reports are built, and no failure is
counted or logged.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ilvb.errors import InvalidArgument
from ilvb.sfu.sdp import (
    RTCP_CONFLICT_PTS,
    PublisherOffer,
    SlotSpec,
    build_publisher_answer,
    parse_publisher_offer,
    parse_receive_answer,
)
from tests.sfu.test_router import Room, addr, connect, rtp
from tests.sfu.test_sdp import LOCAL

FIXTURES = Path(__file__).parent / "fixtures"
OFFERS = {
    "chromium_offer.sdp": {"0": "microphone", "1": "camera"},
    "aiortc_offer.sdp": {"0": "camera", "1": "microphone"},
}
ANSWERS = ("chromium_recv_answer.sdp", "aiortc_recv_answer.sdp")
# the receive offer the answers were made for (the capture used these slots)
SLOTS = [
    SlotSpec("a0", "audio", 1001, "cn"),
    SlotSpec("a1", "audio", 1002, "cn"),
    SlotSpec("v0", "video", 2001, "cn"),
    SlotSpec("v1", "video", 2002, "cn"),
]
CLEAN_CODES = {"invalid_sdp", "unsupported_codec"}
PARSER_WORDS = ("Error", "Exception", "Traceback", "StopIteration", "assert", "object at")
EDGE_NUMBERS = [
    "-1", "0", "1", "14", "15", "16", "63", "64", "72", "95", "96", "127", "128", "255", "256",
    "65535", "65536", "2147483648", "4294967295", "4294967296", "18446744073709551616",
    "9" * 40, "+5", " 5", "1_0", "٣", "0x10", "",
]  # fmt: skip
JUNK = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=0, max_size=40
)


def seed(name: str) -> list[str]:
    return (FIXTURES / name).read_text().splitlines()


@st.composite
def mutated(draw: st.DrawFn, lines: list[str]) -> str:
    """A few mutations of ``lines``, joined with CRLF."""
    out = list(lines)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(out) - 1))
        op = draw(st.sampled_from(["number", "number", "number", "drop", "dup", "move", "cut",
                                   "junk", "token"]))  # fmt: skip
        if op == "number":
            spans = [m.span() for m in re.finditer(r"[0-9]+", out[i])]
            if spans:
                a, b = draw(st.sampled_from(spans))
                out[i] = out[i][:a] + draw(st.sampled_from(EDGE_NUMBERS)) + out[i][b:]
        elif op == "drop":
            del out[i]
        elif op == "dup":
            out.insert(draw(st.integers(0, len(out))), out[i])
        elif op == "move":
            line = out.pop(i)
            out.insert(draw(st.integers(0, len(out))), line)
        elif op == "cut":
            out[i] = out[i][: draw(st.integers(0, len(out[i])))]
        elif op == "junk":
            prefix = draw(st.sampled_from(["a=", "a=ssrc:", "a=extmap:", "a=fmtp:111 ", "m=", ""]))
            out.insert(i, prefix + draw(JUNK))
        else:  # replace one token of a line with junk
            tokens = out[i].split(" ")
            k = draw(st.integers(0, len(tokens) - 1))
            tokens[k] = draw(JUNK)
            out[i] = " ".join(tokens)
        if not out:
            out = [""]
    return "\r\n".join(out) + "\r\n"


def assert_clean(err: InvalidArgument) -> None:
    assert err.code in CLEAN_CODES, err
    assert err.message and len(err.message) <= 300, err.message
    assert not any(w in err.message for w in PARSER_WORDS), err.message


def run_through_router(offer: PublisherOffer, caplog: pytest.LogCaptureFixture) -> None:
    """Negotiate, forward RTP with the offer's own numbers, tick; nothing may fail."""
    room = Room()
    caplog.clear()
    room.router.negotiate_send("pub", offer.remote, list(offer.tracks))
    send = room.router.members["pub"].send
    assert send is not None
    connect(send, addr("pub"))
    listener = room.subscribe("sub", audio=1, video=1)
    from ilvb.sfu.api import Subscription

    room.router.set_subscription("sub", Subscription(views=(("pub", "camera"),)))
    for seq, t in enumerate(offer.tracks):
        ssrc = t.ssrc if t.ssrc is not None else 0x1234 + seq
        ext = b""
        ids = [i for i in (t.audio_level_ext, t.mid_ext) if i is not None and i <= 14]
        if ids:  # one-byte header extension with the negotiated ids
            body = b"".join(bytes([(i << 4) | 0]) + b"\x7f" for i in ids)
            body += b"\x00" * (-len(body) % 4)
            ext = b"\xbe\xde" + (len(body) // 4).to_bytes(2, "big") + body
        payload = b"\x10\x00\x9d\x01\x2a" + b"K" * 40 if t.kind == "video" else b"\xfc" * 40
        for n in range(3):
            room.router._on_send_rtp(
                room.router.members["pub"], rtp(t.payload_type, n, n * 960, ssrc, payload, ext)
            )
    for _ in range(15):
        room.svc.t += 0.1
        room.router.tick(room.svc.t)
        room.router.slow_tick(room.svc.t, send_reports=True)
    assert room.router.faults.total == 0, room.router.faults.counts
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert not errors, [r.getMessage() for r in errors]
    assert listener.state == "connected"
    room.router.close()


FUZZ = settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("name", sorted(OFFERS))
def test_seed_offers_are_accepted_and_forward(name: str, caplog: pytest.LogCaptureFixture) -> None:
    offer = parse_publisher_offer((FIXTURES / name).read_text(), OFFERS[name])
    assert {t.source for t in offer.tracks} == {"microphone", "camera"}
    run_through_router(offer, caplog)


@pytest.mark.parametrize("name", sorted(OFFERS))
@FUZZ
@given(data=st.data())
def test_mutated_offers_are_accepted_cleanly_or_refused_cleanly(
    name: str, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    sdp = data.draw(mutated(seed(name)))
    caplog.set_level(logging.INFO, logger="ilvb.sfu")
    try:
        offer = parse_publisher_offer(sdp, OFFERS[name])
    except InvalidArgument as err:
        assert_clean(err)
        return
    for t in offer.tracks:
        assert t.ssrc is None or 0 <= t.ssrc <= 0xFFFFFFFF
        assert 0 <= t.payload_type <= 127 and t.payload_type not in RTCP_CONFLICT_PTS
        assert t.clock_rate == (48000 if t.codec == "opus" else 90000)
        for ext_id in (t.audio_level_ext, t.mid_ext):
            assert ext_id is None or 1 <= ext_id <= 255
    answer = build_publisher_answer(offer, LOCAL)
    from aiortc.sdp import SessionDescription

    SessionDescription.parse(answer)  # our answer stays well-formed whatever the offer held
    run_through_router(offer, caplog)


@pytest.mark.parametrize("name", ANSWERS)
@FUZZ
@given(data=st.data())
def test_mutated_receive_answers_are_accepted_cleanly_or_refused_cleanly(
    name: str, data: st.DataObject, caplog: pytest.LogCaptureFixture
) -> None:
    sdp = data.draw(mutated(seed(name)))
    try:
        answer = parse_receive_answer(sdp, SLOTS)
    except InvalidArgument as err:
        assert_clean(err)
        return
    for mid, pts in answer.payload_types.items():
        assert mid in {s.mid for s in SLOTS}
        assert all(0 <= pt <= 127 and pt not in RTCP_CONFLICT_PTS for pt in pts.values())
    room = Room()
    room.router.offer_receive("sub", 2, 2)
    room.router.accept_receive_answer("sub", answer.remote, answer.payload_types)
    assert room.router.faults.total == 0


def test_fixtures_are_real_captures() -> None:
    offers: dict[str, Any] = {n: (FIXTURES / n).read_text() for n in [*OFFERS, *ANSWERS]}
    assert "a=extmap-allow-mixed" in offers["chromium_offer.sdp"]  # Chromium's own dialect
    assert "webrtc-datachannel" in offers["chromium_offer.sdp"]
    assert all("a=group:BUNDLE" in sdp for sdp in offers.values())
