"""BUNDLE rules of publisher offers and receive answers (RFC 8843, JSEP max-bundle): a line with
port 0 and a=bundle-only inside the group is bundled, not rejected; a source on a line ilvb
really rejects, or outside the group, is invalid_sdp; an offer of several m-lines without a
BUNDLE group is refused with the reason, a single-line one is answered without a group."""

from __future__ import annotations

import re

import pytest

from ilvb.errors import InvalidArgument
from ilvb.sfu.sdp import (
    SlotSpec,
    build_publisher_answer,
    build_receive_offer,
    parse_publisher_offer,
    parse_receive_answer,
)
from tests.sfu.test_sdp import CHROME_OFFER, LOCAL

SOURCES = {"0": "microphone", "1": "camera"}
# transport attributes a bundle-only m-line leaves to the offerer-tagged one (RFC 8843 §7.2)
TRANSPORT_ATTRS = re.compile(
    r"^a=(ice-ufrag|ice-pwd|ice-options|fingerprint|setup|candidate|end-of-candidates|"
    r"rtcp-mux|rtcp):?.*$"
)


def max_bundle(sdp: str) -> str:
    """Rewrite an offer into JSEP max-bundle form: every m-line but the first gets port 0,
    a=bundle-only and no transport attributes of its own."""
    head, *sections = re.split(r"(?m)^(?=m=)", sdp)
    out = [head, sections[0]]
    for section in sections[1:]:
        lines = section.splitlines()
        m = re.sub(r"^(m=\S+) \d+ ", r"\1 0 ", lines[0])
        kept = [line for line in lines[1:] if not TRANSPORT_ATTRS.match(line)]
        out.append("\r\n".join([m, "a=bundle-only", *kept]) + "\r\n")
    return "".join(out)


def refused(sdp: str, sources: dict[str, str] = SOURCES) -> str:
    with pytest.raises(InvalidArgument) as err:
        parse_publisher_offer(sdp, sources)
    assert err.value.code == "invalid_sdp"
    return err.value.message


def test_max_bundle_offer_lines_are_bundled_not_rejected() -> None:
    sdp = max_bundle(CHROME_OFFER)
    assert "m=video 0 " in sdp and sdp.count("a=bundle-only") == 2
    assert sdp.count("a=ice-pwd") == 1
    offer = parse_publisher_offer(sdp, SOURCES)
    assert [(t.mid, t.codec) for t in offer.tracks] == [("0", "opus"), ("1", "H264")]
    assert offer.remote.ice_ufrag == "EsAw"
    answer = build_publisher_answer(offer, LOCAL)
    assert "a=group:BUNDLE 0 1\r\n" in answer
    assert "m=video 40000 UDP/TLS/RTP/SAVPF 102\r\n" in answer
    assert answer.split("m=video")[1].split("m=application")[0].count("a=recvonly") == 1
    assert "m=application 0 " in answer and "bundle-only" not in answer


def test_a_source_on_a_really_rejected_line_is_invalid_sdp() -> None:
    # port 0 without bundle-only: the offerer disabled the line, nothing would ever arrive
    disabled = CHROME_OFFER.replace("m=video 9 ", "m=video 0 ")
    assert "'camera'" in refused(disabled) and "port 0" in refused(disabled)
    # bundle-only outside the BUNDLE group is not bundled either
    outside = max_bundle(CHROME_OFFER).replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 2")
    assert "not in the BUNDLE group" in refused(outside)
    # the data channel line is one ilvb rejects
    assert "application" in refused(CHROME_OFFER, {"2": "camera"})
    # the first mid of the group is the offerer-tagged line: it cannot be bundle-only
    tagged_zero = max_bundle(CHROME_OFFER).replace("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 1 0 2")
    assert "first mid" in refused(tagged_zero)


def test_an_unbundled_offer_of_several_lines_is_refused_with_the_reason() -> None:
    sdp = CHROME_OFFER.replace("a=group:BUNDLE 0 1 2\r\n", "")
    message = refused(sdp)
    assert "no a=group:BUNDLE" in message and "RFC 8843" in message


def test_a_single_line_offer_without_bundle_is_answered_without_a_group() -> None:
    head, audio, _video, _app = re.split(r"(?m)^(?=m=)", CHROME_OFFER)
    sdp = head.replace("a=group:BUNDLE 0 1 2\r\n", "") + audio
    offer = parse_publisher_offer(sdp, {"0": "microphone"})
    assert not offer.bundled and [t.mid for t in offer.tracks] == ["0"]
    answer = build_publisher_answer(offer, LOCAL)
    assert "a=group" not in answer and "a=recvonly" in answer


SLOTS = [SlotSpec("a0", "audio", 1001, "cn"), SlotSpec("v0", "video", 2001, "cn")]


def client_answer() -> str:
    """An answer to our receive offer, shaped like a browser's (setup active, BUNDLE kept)."""
    offer = build_receive_offer(LOCAL, SLOTS)
    return (
        offer.replace("a=ice-lite\r\n", "")
        .replace("a=setup:actpass", "a=setup:active")
        .replace("a=sendonly", "a=recvonly")
        .replace(f"a=ice-ufrag:{LOCAL.ice_ufrag}", "a=ice-ufrag:cli1")
        .replace(f"a=ice-pwd:{LOCAL.ice_pwd}", "a=ice-pwd:" + "c" * 22)
    )


def test_receive_answer_with_a_bundle_only_slot_accepts_it() -> None:
    answer = max_bundle(client_answer())
    parsed = parse_receive_answer(answer, SLOTS)
    assert not parsed.rejected and parsed.payload_types["v0"] == {"VP8": 96, "H264": 102}
    assert parsed.remote.ice_ufrag == "cli1"


def test_receive_answer_must_keep_the_slots_bundled() -> None:
    unbundled = client_answer().replace("a=group:BUNDLE a0 v0\r\n", "")
    with pytest.raises(InvalidArgument) as err:
        parse_receive_answer(unbundled, SLOTS)
    assert err.value.code == "invalid_sdp" and "BUNDLE" in err.value.message
    partial = client_answer().replace("a=group:BUNDLE a0 v0", "a=group:BUNDLE a0")
    with pytest.raises(InvalidArgument) as err:
        parse_receive_answer(partial, SLOTS)
    assert "outside the BUNDLE group" in err.value.message
