"""Just enough SDP for the benchmark's lite WebRTC endpoint (offers it sends, answers it gives).

Parsing uses aiortc's ``SessionDescription``; building is plain text, so the endpoint controls
exactly what it offers: Opus + VP8, BUNDLE, rtcp-mux, AES_CM_128_HMAC_SHA1_80 only (same crypto
for every server measured).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aiortc.sdp import SessionDescription

EXT_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
EXT_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"


@dataclass
class LocalParams:
    """What this endpoint puts into its SDP."""

    ufrag: str
    pwd: str
    fingerprint: str  # "sha-256 AB:CD:…"
    candidates: list[str]  # candidate-attribute values (without "a=candidate:")
    setup: str  # "actpass" (offer) or "active" (answer)


@dataclass
class RemoteMedia:
    """One m-line of the remote description."""

    mid: str
    kind: str
    port: int
    direction: str
    payload_types: dict[str, int]  # codec name (lower case) -> payload type
    extmap: dict[str, int]  # uri -> id
    ssrcs: list[int]


@dataclass
class RemoteParams:
    """The remote transport and media parameters."""

    ufrag: str
    pwd: str
    ice_lite: bool
    fingerprints: list[tuple[str, str]]
    setup: str
    candidates: list[object]  # aioice Candidate
    media: list[RemoteMedia] = field(default_factory=list)


def parse_remote(sdp: str) -> RemoteParams:
    """Extract ICE/DTLS/media parameters from ``sdp`` (first bundled m-line carries transport)."""
    from aioice import Candidate
    from aiortc.rtcicetransport import candidate_to_aioice

    desc = SessionDescription.parse(sdp)
    if not desc.media:
        raise ValueError("remote SDP has no m-line")
    lite = "a=ice-lite" in sdp
    first = next((m for m in desc.media if m.port != 0), desc.media[0])
    if first.ice is None or first.dtls is None:
        raise ValueError("remote SDP lacks ICE or DTLS parameters")
    candidates: list[object] = []
    for m in desc.media:
        for c in m.ice_candidates:
            cand: Candidate = candidate_to_aioice(c)
            if cand.transport.lower() == "udp" and ":" not in cand.host:
                candidates.append(cand)
    media: list[RemoteMedia] = []
    for m in desc.media:
        pts: dict[str, int] = {}
        for codec in m.rtp.codecs:
            name = codec.mimeType.split("/")[-1].lower()
            pts.setdefault(name, codec.payloadType)
        media.append(
            RemoteMedia(
                mid=m.rtp.muxId,
                kind=m.kind,
                port=m.port,
                direction=m.direction or "sendrecv",
                payload_types=pts,
                extmap={e.uri: e.id for e in m.rtp.headerExtensions},
                ssrcs=[s.ssrc for s in m.ssrc],
            )
        )
    return RemoteParams(
        ufrag=first.ice.usernameFragment,
        pwd=first.ice.password,
        ice_lite=lite,
        fingerprints=[(f.algorithm, f.value) for f in first.dtls.fingerprints],
        setup=remote_setup(sdp),
        candidates=candidates,
        media=media,
    )


def remote_setup(sdp: str) -> str:
    """The ``a=setup`` value of the first m-line (``active``/``passive``/``actpass``)."""
    for line in sdp.splitlines():
        if line.startswith("a=setup:"):
            return line.split(":", 1)[1].strip()
    return "actpass"


def _transport_lines(local: LocalParams) -> list[str]:
    lines = [
        f"a=ice-ufrag:{local.ufrag}",
        f"a=ice-pwd:{local.pwd}",
        f"a=fingerprint:{local.fingerprint}",
        f"a=setup:{local.setup}",
    ]
    lines += [f"a=candidate:{c}" for c in local.candidates]
    lines.append("a=end-of-candidates")
    return lines


def _session_header(mids: list[str]) -> list[str]:
    return [
        "v=0",
        "o=- 4611731400430051336 2 IN IP4 127.0.0.1",
        "s=-",
        "t=0 0",
        f"a=group:BUNDLE {' '.join(mids)}",
        "a=msid-semantic: WMS bench",
    ]


def build_publish_offer(
    local: LocalParams,
    audio_ssrc: int,
    video_ssrc: int,
    audio_mid: str = "0",
    video_mid: str = "1",
) -> str:
    """A sendonly offer: one Opus (PT 111) and one VP8 (PT 96) m-line."""
    lines = _session_header([audio_mid, video_mid])
    lines += [
        "m=audio 9 UDP/TLS/RTP/SAVPF 111",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        *_transport_lines(local),
        f"a=mid:{audio_mid}",
        f"a=extmap:1 {EXT_AUDIO_LEVEL}",
        f"a=extmap:4 {EXT_MID}",
        "a=sendonly",
        "a=msid:bench audio0",
        "a=rtcp-mux",
        "a=rtpmap:111 opus/48000/2",
        "a=rtcp-fb:111 transport-cc",
        "a=fmtp:111 minptime=10;useinbandfec=1",
        f"a=ssrc:{audio_ssrc} cname:bench",
        f"a=ssrc:{audio_ssrc} msid:bench audio0",
        "m=video 9 UDP/TLS/RTP/SAVPF 96",
        "c=IN IP4 0.0.0.0",
        "a=rtcp:9 IN IP4 0.0.0.0",
        *_transport_lines(local),
        f"a=mid:{video_mid}",
        f"a=extmap:4 {EXT_MID}",
        "a=sendonly",
        "a=msid:bench video0",
        "a=rtcp-mux",
        "a=rtpmap:96 VP8/90000",
        "a=rtcp-fb:96 ccm fir",
        "a=rtcp-fb:96 nack",
        "a=rtcp-fb:96 nack pli",
        f"a=ssrc:{video_ssrc} cname:bench",
        f"a=ssrc:{video_ssrc} msid:bench video0",
    ]
    return "\r\n".join(lines) + "\r\n"


def build_receive_answer(local: LocalParams, offer_sdp: str) -> str:
    """A recvonly answer to a server's offer: accept Opus/VP8 m-lines, reject the rest."""
    desc = SessionDescription.parse(offer_sdp)
    mids = [m.rtp.muxId for m in desc.media if m.port != 0]
    lines = _session_header(mids)
    for m in desc.media:
        codec_name = "opus" if m.kind == "audio" else "vp8"
        chosen = None
        for codec in m.rtp.codecs:
            if codec.mimeType.split("/")[-1].lower() == codec_name:
                chosen = codec
                break
        mid = m.rtp.muxId
        if m.port == 0 or chosen is None or m.kind not in ("audio", "video"):
            fmt = " ".join(str(f) for f in m.fmt) or "0"
            lines += [f"m={m.kind} 0 {m.profile} {fmt}", "c=IN IP4 0.0.0.0", f"a=mid:{mid}"]
            continue
        pt = chosen.payloadType
        clock = chosen.clockRate
        rtpmap = f"opus/{clock}/2" if m.kind == "audio" else f"VP8/{clock}"
        lines += [
            f"m={m.kind} 9 {m.profile} {pt}",
            "c=IN IP4 0.0.0.0",
            "a=rtcp:9 IN IP4 0.0.0.0",
            *_transport_lines(local),
            f"a=mid:{mid}",
        ]
        for ext in m.rtp.headerExtensions:
            if ext.uri in (EXT_MID, EXT_AUDIO_LEVEL):
                lines.append(f"a=extmap:{ext.id} {ext.uri}")
        direction = (
            "recvonly" if (m.direction or "sendrecv") in ("sendonly", "sendrecv") else "inactive"
        )
        lines += [f"a={direction}", "a=rtcp-mux", f"a=rtpmap:{pt} {rtpmap}"]
        if m.kind == "video":
            lines += [f"a=rtcp-fb:{pt} nack", f"a=rtcp-fb:{pt} nack pli", f"a=rtcp-fb:{pt} ccm fir"]
    return "\r\n".join(lines) + "\r\n"
