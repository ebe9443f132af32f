"""Every number the SFU takes from an offer is range-checked: out-of-range SSRCs, payload
types, clock rates, extension ids … are refused with ``invalid_sdp`` and a plain message that
names the attribute (never a parser exception), and standards-conformant forms still pass."""

from __future__ import annotations

import pytest

from ilvb.errors import InvalidArgument
from ilvb.sfu.sdp import build_publisher_answer, parse_publisher_offer
from tests.sfu.test_sdp import CHROME_OFFER, LOCAL

SOURCES = {"0": "microphone", "1": "camera"}
PARSER_WORDS = ("Error", "Exception", "Traceback", "KeyError", "StopIteration", "assert")


def refused(sdp: str, sources: dict[str, str] | None = None) -> str:
    with pytest.raises(InvalidArgument) as err:
        parse_publisher_offer(sdp, SOURCES if sources is None else sources)
    assert err.value.code == "invalid_sdp", err.value
    message = err.value.message
    assert not any(w in message for w in PARSER_WORDS), message
    return message


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("a=ssrc:1111 cname", "a=ssrc:-1 cname", "a=ssrc"),
        ("a=ssrc:1111 cname", "a=ssrc:99999999999 cname", "SSRC"),
        ("a=ssrc:1111 cname", "a=ssrc:4294967296 cname", "SSRC must be 0..4294967295"),
        ("a=ssrc-group:FID 2222 3333", "a=ssrc-group:FID 2222 -3", "ssrc-group"),
        ("a=ssrc-group:FID 2222 3333", "a=ssrc-group:FID 4294967296 3", "SSRC"),
        ("a=ssrc:1111 cname", "a=ssrc:+1111 cname", "a=ssrc"),
        ("a=ssrc:1111 cname", "a=ssrc:١١١١ cname", "a=ssrc"),  # int() reads Arabic digits
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:300 opus/48000/2", "payload type"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/0/2", "clock rate"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/99999999999/2", "a=rtpmap"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000/0", "channel count"),
        ("a=rtpmap:111 opus/48000/2", "a=rtpmap:112 opus/48000/2", "not listed"),
        ("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 128 111", "0..127"),
        ("m=audio 9 UDP", "m=audio 70000 UDP", "port"),
        ("m=audio 9 UDP", "m=audio -9 UDP", "m-line"),
        ("a=extmap-allow-mixed\r\na=msid-semantic", "a=msid-semantic", "extension id 15"),
        (
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:0 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "extension id",
        ),
        (
            "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "a=extmap:4 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
            "used twice",
        ),
        ("a=rtcp-fb:111 transport-cc", "a=rtcp-fb:1000 transport-cc", "a=rtcp-fb"),
        ("a=fmtp:111 minptime=10", "a=fmtp:111 minptime=99999999999", "minptime"),
        ("a=fmtp:111 minptime=10", "a=fmtp:111 minptime=abc", "minptime"),
        ("a=rtpmap:9 G722/8000", "a=fmtp:9 x=1", "no rtpmap"),
        ("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 72 111", "RTCP"),
        ("m=audio 9 UDP/TLS/RTP/SAVPF 111", "m=audio 9 UDP/TLS/RTP/SAVPF 9" + "9" * 30, "0..127"),
        ("a=mid:0", "a=mid:" + "x" * 40, "mid"),
        ("a=mid:0", "a=mid:a b", "mid"),
        ("a=mid:0", "a=mid:é", "mid"),
        (
            "a=sendonly\r\na=msid:stream audiotrack",
            "a=sendonly\r\na=rid:" + "r" * 20 + " send",
            "rid",
        ),
        ("a=setup:actpass", "a=setup:holdconn", "holdconn"),
        ("a=setup:actpass", "a=setup:sideways", "a=setup"),
        ("a=ice-ufrag:EsAw", "a=ice-ufrag:E", "ice-ufrag"),
        ("a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y", "a=ice-pwd:short", "ice-pwd"),
        ("a=fingerprint:sha-256 DA:39", "a=fingerprint:sha-256 ZZ:39", "fingerprint"),
        ("v=0", "v=1", "version"),
        ("a=group:BUNDLE 0 1 2", "a=group:BUNDLE 0 1 2\r\nx", "not an SDP line"),
        ("a=mid:0", "a=mid:0\r\na=mid:9", "two a=mid"),
    ],
)
def test_out_of_range_numbers_and_bad_tokens_are_invalid_sdp(
    old: str, new: str, words: str
) -> None:
    sdp = CHROME_OFFER
    if "extension id 15" in words:
        sdp = sdp.replace("a=extmap:1 urn", "a=extmap:15 urn")
    assert old in sdp
    message = refused(sdp.replace(old, new, 1))
    assert words in message, message


def test_lines_aiortc_would_crash_on_are_refused_or_ignored_cleanly() -> None:
    # a=setup without a value, a=ssrc without attribute value, extmap with attributes,
    # garbage candidates: clean refusals or ignored (the SFU reads none of the last three)
    refused(CHROME_OFFER.replace("a=setup:actpass", "a=setup", 1))
    ok = (
        CHROME_OFFER.replace("a=ssrc:1111 cname:abc", "a=ssrc:1111 cname:abc\r\na=ssrc:1111 x")
        .replace("a=rtcp-mux\r\n", "a=rtcp-mux\r\na=candidate:garbage\r\na=rtcp:x\r\n", 1)
        .replace("a=mid:0", "a=mid:0\r\na=extmap:9 urn:x:y attrs here")
        .replace("c=IN IP4 0.0.0.0", "c=garbage", 1)
    )
    offer = parse_publisher_offer(ok, SOURCES)
    assert [t.ssrc for t in offer.tracks] == [1111, 2222]


def test_edge_values_in_range_are_accepted() -> None:
    sdp = (
        CHROME_OFFER.replace("a=ssrc:1111 cname", "a=ssrc:4294967295 cname")
        .replace("a=ssrc-group:FID 2222 3333", "a=ssrc-group:FID 0 3333")
        .replace("a=ssrc:2222 cname", "a=ssrc:0 cname")
        .replace("a=extmap:1 urn", "a=extmap:14 urn")
        .replace("a=fmtp:111 minptime=10;useinbandfec=1", "a=fmtp:111 minptime=10; useinbandfec=1;")
    )
    audio, video = parse_publisher_offer(sdp, SOURCES).tracks
    assert (audio.ssrc, audio.audio_level_ext, video.ssrc) == (4294967295, 14, 0)
    assert audio.fmtp == "minptime=10;useinbandfec=1"


def test_two_byte_extension_ids_need_extmap_allow_mixed() -> None:
    sdp = CHROME_OFFER.replace("a=extmap:1 urn", "a=extmap:200 urn")
    assert "extmap-allow-mixed" in refused(sdp.replace("a=extmap-allow-mixed\r\n", ""))
    audio, _ = parse_publisher_offer(sdp, SOURCES).tracks
    assert audio.audio_level_ext == 200


def test_a_codec_in_the_rtcp_conflict_range_or_with_wrong_clock_is_not_chosen() -> None:
    # opus at PT 80 with the marker bit would be read back as RTCP (RFC 5761 §4); opus/48000
    # (mono) is not opus/48000/2 (RFC 7587)
    sdp = (
        CHROME_OFFER.replace("UDP/TLS/RTP/SAVPF 111 63", "UDP/TLS/RTP/SAVPF 80 63")
        .replace("a=rtpmap:111 ", "a=rtpmap:80 ")
        .replace("a=rtcp-fb:111 ", "a=rtcp-fb:80 ")
        .replace("a=fmtp:111 ", "a=fmtp:80 ")
        .replace("a=fmtp:63 111/111", "a=fmtp:63 80/80")
    )
    with pytest.raises(InvalidArgument) as err:
        parse_publisher_offer(sdp, {"0": "microphone"})
    assert err.value.code == "unsupported_codec"
    mono = CHROME_OFFER.replace("a=rtpmap:111 opus/48000/2", "a=rtpmap:111 opus/48000")
    with pytest.raises(InvalidArgument) as err:
        parse_publisher_offer(mono, {"0": "microphone"})
    assert err.value.code == "unsupported_codec"


def test_oversized_and_many_m_lines_are_refused() -> None:
    section = CHROME_OFFER[CHROME_OFFER.index("m=application") :]
    many = CHROME_OFFER + "".join(section.replace("a=mid:2", f"a=mid:d{i}") for i in range(70))
    assert "m-lines" in refused(many)
    assert "256 KiB" in refused(CHROME_OFFER + "a=x:" + "y" * 300_000 + "\r\n")


def test_answer_still_echoes_the_validated_numbers() -> None:
    offer = parse_publisher_offer(CHROME_OFFER, SOURCES)
    answer = build_publisher_answer(offer, LOCAL)
    assert "a=rtpmap:111 opus/48000/2" in answer and "a=rtpmap:102 H264/90000" in answer


def test_bundled_lines_share_no_ssrc_and_agree_on_extension_ids() -> None:
    # one transport: an SSRC names one m-line, an extension id one URI (RFC 8843)
    shared = CHROME_OFFER.replace("a=ssrc:2222 cname", "a=ssrc:1111 cname").replace(
        "FID 2222 3333", "FID 1111 3333"
    )
    assert "SSRC 1111 is used by two m-lines" in refused(shared)
    moved = CHROME_OFFER.replace(
        "a=mid:1\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=mid:1\r\na=extmap:5 urn:ietf:params:rtp-hdrext:sdes:mid",
    )
    assert "two extension ids" in refused(moved)
    clash = CHROME_OFFER.replace(
        "a=mid:1\r\na=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=mid:1\r\na=extmap:1 urn:ietf:params:rtp-hdrext:sdes:mid",
    )
    assert "names two URIs" in refused(clash)
