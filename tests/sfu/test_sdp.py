"""SDP: publisher offers (aiortc's and a Chromium-like one) → answers aiortc accepts; the SFU's
receive offer → aiortc's answer → accepted payload types; malformed input → invalid_sdp."""

from __future__ import annotations

import pytest
from aiortc import (
    AudioStreamTrack,
    RTCConfiguration,
    RTCPeerConnection,
    RTCSessionDescription,
    VideoStreamTrack,
)

from ilvb.errors import InvalidArgument
from ilvb.sfu.sdp import (
    SlotSpec,
    build_publisher_answer,
    build_receive_offer,
    parse_publisher_offer,
    parse_receive_answer,
)
from ilvb.sfu.transport import LocalParams

LOCAL = LocalParams("srvufrag", "p" * 24, "AB:" * 31 + "CD", "127.0.0.1", 40000)

CHROME_OFFER = "\r\n".join(
    [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        "a=group:BUNDLE 0 1 2",
        "a=extmap-allow-mixed",
        "a=msid-semantic: WMS stream",
        "m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        "a=ice-ufrag:EsAw",
        "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
        "a=ice-options:trickle",
        "a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:"
        "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF",
        "a=setup:actpass",
        "a=mid:0",
        "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level",
        "a=extmap:2 http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=sendonly",
        "a=msid:stream audiotrack",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        "a=rtpmap:63 red/48000/2",
        "a=fmtp:63 111/111",
        "a=rtpmap:9 G722/8000",
        "a=rtpmap:0 PCMU/8000",
        "a=rtpmap:8 PCMA/8000",
        "a=rtpmap:13 CN/8000",
        "a=rtpmap:110 telephone-event/48000",
        "a=rtpmap:126 telephone-event/8000",
        "a=ssrc:1111 cname:abc",
        "m=video 9 UDP/TLS/RTP/SAVPF 100 101 102 103 45",
        "c=IN IP4 0.0.0.0",
        "a=ice-ufrag:EsAw",
        "a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y",
        "a=fingerprint:sha-256 DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09:"
        "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF",
        "a=setup:actpass",
        "a=mid:1",
        "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid",
        "a=extmap:3 http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01",
        "a=sendonly",
        "a=msid:stream videotrack",
        "a=rtcp-mux",
        "a=rtcp-rsize",
        "a=rtpmap:100 H264/90000",
        "a=rtcp-fb:100 goog-remb",
        "a=rtcp-fb:100 nack",
        "a=rtcp-fb:100 nack pli",
        "a=rtcp-fb:100 ccm fir",
        "a=fmtp:100 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640c1f",
        "a=rtpmap:101 rtx/90000",
        "a=fmtp:101 apt=100",
        "a=rtpmap:102 H264/90000",
        "a=rtcp-fb:102 goog-remb",
        "a=rtcp-fb:102 nack",
        "a=rtcp-fb:102 nack pli",
        "a=rtcp-fb:102 ccm fir",
        "a=rtcp-fb:102 transport-cc",
        "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
        "a=rtpmap:103 rtx/90000",
        "a=fmtp:103 apt=102",
        "a=rtpmap:45 AV1/90000",
        "a=ssrc-group:FID 2222 3333",
        "a=ssrc:2222 cname:abc",
        "a=ssrc:3333 cname:abc",
        "m=application 9 UDP/DTLS/SCTP webrtc-datachannel",
        "c=IN IP4 0.0.0.0",
        "a=mid:2",
        "a=sctp-port:5000",
        "",
    ]
)


def test_chromium_offer_keeps_client_numbers_drops_rtx_and_unsupported() -> None:
    offer = parse_publisher_offer(CHROME_OFFER, {"0": "microphone", "1": "camera"})
    audio, video = offer.tracks
    assert (audio.codec, audio.payload_type, audio.ssrc) == ("opus", 111, 1111)
    assert audio.audio_level_ext == 1 and audio.mid_ext == 4
    assert audio.red_payload_type == 63 and video.red_payload_type is None
    # the high-profile H264 (640c1f) is skipped, the constrained-baseline one kept with its PT
    assert (video.codec, video.payload_type, video.ssrc) == ("H264", 102, 2222)
    assert set(video.feedback) == {"nack", "nack pli", "ccm fir", "goog-remb"}
    assert offer.remote.dtls_role == "server" and offer.remote.ice_ufrag == "EsAw"
    answer = build_publisher_answer(offer, LOCAL)
    assert "a=group:BUNDLE 0 1\r\n" in answer
    # RED (RFC 2198) before Opus, so that Chromium sends Opus with redundancy
    assert "m=audio 40000 UDP/TLS/RTP/SAVPF 63 111\r\n" in answer
    assert "a=rtpmap:63 red/48000/2\r\na=fmtp:63 111/111\r\n" in answer
    assert "a=rtcp-fb:111 nack\r\n" in answer and audio.feedback == ("nack",)  # audio NACK
    # RTX (RFC 4588) of the chosen codec only, with the FID group's RTX SSRC
    assert (video.rtx_payload_type, video.rtx_ssrc) == (103, 3333)
    assert "m=video 40000 UDP/TLS/RTP/SAVPF 102 103\r\n" in answer
    assert "a=rtpmap:103 rtx/90000\r\na=fmtp:103 apt=102\r\n" in answer
    assert "m=application 0 UDP/DTLS/SCTP webrtc-datachannel" in answer
    assert "apt=100" not in answer and "rtx/90000" not in answer.replace("103 rtx", "")
    assert "transport-cc" not in answer
    assert "a=extmap:1 urn:ietf:params:rtp-hdrext:ssrc-audio-level" in answer
    assert "a=extmap:4 urn:ietf:params:rtp-hdrext:sdes:mid" in answer
    assert "abs-send-time" not in answer
    for line in (
        "a=ice-lite",
        "a=setup:passive",
        "a=rtcp-mux",
        "a=recvonly",
        f"a=fingerprint:sha-256 {LOCAL.fingerprint}",
        "a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host",
    ):
        assert line in answer


@pytest.mark.parametrize(
    "fmtp", ["a=fmtp:63 111/0", "a=fmtp:63 111", "", "a=fmtp:63 " + "/".join(["111"] * 12)]
)
def test_red_is_taken_only_when_every_block_is_the_accepted_opus(fmtp: str) -> None:
    sdp = (
        CHROME_OFFER.replace("a=fmtp:63 111/111", fmtp)
        if fmtp
        else CHROME_OFFER.replace("a=fmtp:63 111/111\r\n", "")
    )
    audio = parse_publisher_offer(sdp, {"0": "microphone"}).tracks[0]
    assert audio.red_payload_type is None
    answer = build_publisher_answer(parse_publisher_offer(sdp, {"0": "microphone"}), LOCAL)
    assert "m=audio 40000 UDP/TLS/RTP/SAVPF 111\r\n" in answer and "red" not in answer


def test_rtx_needs_its_ssrc_and_a_nacked_codec() -> None:
    no_fid = CHROME_OFFER.replace("a=ssrc-group:FID 2222 3333\r\n", "")
    video = parse_publisher_offer(no_fid, {"1": "camera"}).tracks[0]
    assert video.rtx_payload_type is None and video.rtx_ssrc is None
    no_nack = CHROME_OFFER.replace("a=rtcp-fb:102 nack\r\n", "")
    video = parse_publisher_offer(no_nack, {"1": "camera"}).tracks[0]
    assert video.rtx_payload_type is None
    answer = build_publisher_answer(parse_publisher_offer(no_fid, {"1": "camera"}), LOCAL)
    assert "rtx" not in answer and "apt=" not in answer


def test_unmapped_mline_is_inactive_and_not_a_producer() -> None:
    offer = parse_publisher_offer(CHROME_OFFER, {"1": "camera"})
    assert [t.mid for t in offer.tracks] == ["1"]
    answer = build_publisher_answer(offer, LOCAL)
    audio_section = answer.split("m=audio")[1].split("m=video")[0]
    assert "a=inactive" in audio_section


@pytest.mark.parametrize(
    ("sdp", "sources", "code"),
    [
        ("", {}, "invalid_sdp"),
        ("v=0\r\nm=video x\r\n", {}, "invalid_sdp"),
        (CHROME_OFFER, {"7": "camera"}, "invalid_sdp"),
        (CHROME_OFFER, {"0": "camera"}, "invalid_sdp"),
        (
            CHROME_OFFER.replace("a=rtpmap:102 H264", "a=rtpmap:102 H265").replace(
                "a=rtpmap:100 H264", "a=rtpmap:100 H265"
            ),
            {"1": "camera"},
            "unsupported_codec",
        ),
        (CHROME_OFFER.replace("a=fingerprint", "a=x-fingerprint"), {"1": "camera"}, "invalid_sdp"),
    ],
)
def test_bad_offers_raise_typed_errors(sdp: str, sources: dict[str, str], code: str) -> None:
    with pytest.raises(InvalidArgument) as err:
        parse_publisher_offer(sdp, sources)
    assert err.value.code == code


async def test_aiortc_accepts_the_answer_to_its_offer() -> None:
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        pc.addTransceiver(VideoStreamTrack(), direction="sendonly")
        pc.addTransceiver(AudioStreamTrack(), direction="sendonly")
        await pc.setLocalDescription(await pc.createOffer())
        offer = parse_publisher_offer(pc.localDescription.sdp, {"0": "camera", "1": "microphone"})
        assert [t.codec for t in offer.tracks] == ["VP8", "opus"]
        await pc.setRemoteDescription(
            RTCSessionDescription(build_publisher_answer(offer, LOCAL), "answer")
        )
        assert pc.signalingState == "stable"
    finally:
        await pc.close()


async def test_receive_offer_is_answered_by_aiortc_with_our_payload_types() -> None:
    slots = [
        SlotSpec("a0", "audio", 1001, "cn"),
        SlotSpec("a1", "audio", 1002, "cn"),
        SlotSpec("v0", "video", 2001, "cn"),
    ]
    offer = build_receive_offer(LOCAL, slots)
    assert "a=setup:actpass" in offer and "a=group:BUNDLE a0 a1 v0" in offer
    assert offer.count("a=sendonly") == 3 and "a=ssrc:2001 cname:cn" in offer
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    try:
        await pc.setRemoteDescription(RTCSessionDescription(offer, "offer"))
        await pc.setLocalDescription(await pc.createAnswer())
        answer = parse_receive_answer(pc.localDescription.sdp, slots)
    finally:
        await pc.close()
    assert answer.payload_types["a0"] == {"opus": 111}
    assert answer.payload_types["v0"] == {"VP8": 96, "H264": 102}
    assert answer.remote.dtls_role == "server"  # aiortc answers a=setup:active
    assert not answer.rejected


def test_receive_offer_offers_red_after_opus_and_a_client_may_take_it() -> None:
    slots = [SlotSpec("a0", "audio", 1001, "cn")]
    offer = build_receive_offer(LOCAL, slots)
    assert "m=audio 40000 UDP/TLS/RTP/SAVPF 111 63\r\n" in offer
    assert "a=rtpmap:63 red/48000/2\r\n" in offer and "a=fmtp:63 111/111\r\n" in offer
    # an answer echoing both codecs (as Chromium does) takes RED
    answer = offer.replace("a=sendonly", "a=recvonly").replace("a=setup:actpass", "a=setup:active")
    assert parse_receive_answer(answer, slots).payload_types["a0"] == {"opus": 111, "red": 63}


def test_receive_answer_with_an_unknown_mid_is_rejected() -> None:
    slots = [SlotSpec("v0", "video", 2001, "cn")]
    bogus = CHROME_OFFER.replace("a=setup:actpass", "a=setup:active")
    with pytest.raises(InvalidArgument) as err:
        parse_receive_answer(bogus, slots)
    assert err.value.code == "invalid_sdp"


def test_an_ipv6_announced_address_is_written_as_ip6() -> None:
    from dataclasses import replace

    offer = build_receive_offer(replace(LOCAL, ip="::1"), [SlotSpec("a0", "audio", 1, "cn")])
    assert "c=IN IP6 ::1" in offer and "a=candidate:1 1 udp 2130706431 ::1 40000 typ host" in offer
