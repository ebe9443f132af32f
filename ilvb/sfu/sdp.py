"""SDP for the SFU (RFC 8829 JSEP, RFC 8843 BUNDLE, RFC 8839 ICE, RFC 8842 DTLS, RFC 5761 mux).

Runs on the control-plane side of the media plane (it parses with ``aiortc.sdp``, which imports
aiortc's codecs): the workers only ever see the plain dataclasses below.

* A publisher's offer → :func:`parse_publisher_offer` (one codec per accepted m-line, the client's
  payload-type numbers and header-extension ids kept) → :func:`build_publisher_answer` (ICE-lite,
  our ufrag/pwd/fingerprint, one host candidate, BUNDLE, rtcp-mux, ``recvonly``; RTX dropped).
* A receive transport → :func:`build_receive_offer` (fixed ``sendonly`` slots ``a0..``/``v0..``,
  each with its own SSRC, cname and msid; opus/111, VP8/96, H264/102) → the client's answer →
  :func:`parse_receive_answer` (which payload types the client accepted in each slot).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from ilvb.errors import InvalidArgument
from ilvb.sfu.dtls import DtlsRole
from ilvb.sfu.transport import LocalParams, RemoteParams

Kind = Literal["audio", "video"]

URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
ACCEPTED_EXTENSIONS = (URI_AUDIO_LEVEL, URI_MID)
ACCEPTED_FEEDBACK = {"nack", "nack pli", "ccm fir", "goog-remb"}

CODEC_CLOCK = {"opus": 48000, "VP8": 90000, "H264": 90000}
# Payload types of the SFU's own offers (what Chromium uses for the same codecs).
OFFER_CODECS: dict[Kind, tuple[tuple[str, int, str], ...]] = {
    "audio": (("opus", 111, "minptime=10;useinbandfec=1"),),
    "video": (
        ("VP8", 96, ""),
        ("H264", 102, "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f"),
    ),
}
OFFER_FEEDBACK: dict[Kind, tuple[str, ...]] = {
    "audio": (),
    "video": ("nack", "nack pli", "ccm fir"),
}

_versions = itertools.count(2)


@dataclass(frozen=True)
class AcceptedTrack:
    """A publisher m-line the SFU receives: one codec, the client's numbers."""

    mid: str
    kind: Kind
    source: str
    codec: str  # "opus", "VP8", "H264"
    payload_type: int
    clock_rate: int
    channels: int | None
    fmtp: str
    feedback: tuple[str, ...]
    ssrc: int | None
    audio_level_ext: int | None
    mid_ext: int | None


@dataclass(frozen=True)
class MLine:
    """One m-line of an offer as the answer must echo it."""

    mid: str
    kind: str
    proto: str
    fmt: tuple[str, ...]
    track: AcceptedTrack | None  # None: rejected (port 0) or inactive
    inactive_pt: int | None = None  # a codec to name when answering inactive


@dataclass(frozen=True)
class PublisherOffer:
    """A parsed publisher offer: the remote transport parameters and every m-line."""

    remote: RemoteParams
    lines: tuple[MLine, ...]

    @property
    def tracks(self) -> tuple[AcceptedTrack, ...]:
        """The m-lines that become producers."""
        return tuple(m.track for m in self.lines if m.track is not None)


@dataclass(frozen=True)
class SlotSpec:
    """One fixed receive slot of the SFU's offer."""

    mid: str
    kind: Kind
    ssrc: int
    cname: str


@dataclass(frozen=True)
class ReceiveAnswer:
    """The client's answer to a receive offer."""

    remote: RemoteParams
    payload_types: dict[str, dict[str, int]] = field(default_factory=dict)  # mid -> codec -> pt
    rejected: frozenset[str] = frozenset()


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument("invalid_sdp", message)


def _parse(sdp: str) -> Any:
    if not isinstance(sdp, str) or not sdp.strip():
        raise _invalid("empty SDP")
    if len(sdp) > 256 * 1024:
        raise _invalid("SDP larger than 256 KiB")
    from aiortc.sdp import SessionDescription  # control-plane side only (see module doc)

    try:
        return SessionDescription.parse(sdp)
    except Exception as exc:  # aiortc asserts / raises on malformed lines
        raise _invalid(f"cannot parse SDP: {type(exc).__name__} {exc}") from exc


def _codec_name(mime: str) -> str:
    sub = mime.split("/", 1)[-1]
    return "opus" if sub.lower() == "opus" else sub.upper()


def _fmtp(params: dict[str, Any]) -> str:
    return ";".join(f"{k}={v}" if v is not None else str(k) for k, v in params.items())


def _h264_ok(params: dict[str, Any]) -> bool:
    """packetization-mode=1 and a baseline profile (profile_idc 0x42), what the slots offer."""
    if str(params.get("packetization-mode", "0")) != "1":
        return False
    profile = str(params.get("profile-level-id", "42e01f")).lower()
    return profile.startswith("42")


def _remote_params(media: Any, answer: bool) -> RemoteParams:
    ice = media.ice
    dtls = media.dtls
    if ice is None or not ice.usernameFragment or not ice.password:
        raise _invalid("missing a=ice-ufrag / a=ice-pwd")
    if dtls is None or not dtls.fingerprints:
        raise _invalid("missing a=fingerprint")
    fingerprints = tuple((f.algorithm.lower(), f.value.upper()) for f in dtls.fingerprints)
    if not any(a == "sha-256" for a, _ in fingerprints):
        raise _invalid("no sha-256 fingerprint")
    setup = dtls.role or "auto"  # aiortc: auto=actpass, client=active, server=passive
    if answer:
        if setup == "client":
            role: DtlsRole = "server"
        elif setup == "server":
            role = "client"
        else:
            raise _invalid("an answer must say a=setup:active or passive")
    else:
        role = "client" if setup == "server" else "server"
    return RemoteParams(ice.usernameFragment, ice.password, fingerprints, role)


def _primary_ssrc(media: Any) -> int | None:
    for group in media.ssrc_group:
        if group.semantic in ("FID", "SIM") and group.items:
            return int(group.items[0])
    return int(media.ssrc[0].ssrc) if media.ssrc else None


def _choose_codec(media: Any) -> Any | None:
    for codec in media.rtp.codecs:
        name = _codec_name(codec.mimeType)
        if media.kind == "audio" and name == "opus":
            return codec
        if media.kind == "video" and (
            name == "VP8" or (name == "H264" and _h264_ok(codec.parameters))
        ):
            return codec
    return None


def parse_publisher_offer(sdp: str, sources: dict[str, str]) -> PublisherOffer:
    """Parse a publisher's offer; m-lines whose mid is in ``sources`` become tracks.

    Raises ``invalid_sdp`` for malformed SDP, missing ICE/DTLS attributes, a mapped mid that is
    absent, of the wrong kind, not sending, or with no codec the SFU forwards.
    """
    desc = _parse(sdp)
    if not desc.media:
        raise _invalid("no m-lines")
    remote = None
    lines: list[MLine] = []
    seen: set[str] = set()
    for index, media in enumerate(desc.media):
        mid = media.rtp.muxId or str(index)
        if mid in seen:
            raise _invalid(f"duplicate mid {mid!r}")
        seen.add(mid)
        fmt = tuple(str(f) for f in media.fmt)
        if media.kind not in ("audio", "video") or media.port == 0:
            lines.append(MLine(mid, media.kind, media.profile, fmt, None))
            continue
        if remote is None:
            remote = _remote_params(media, answer=False)
        if not media.rtcp_mux:
            raise _invalid(f"m-line {mid!r} without a=rtcp-mux")
        codec = _choose_codec(media)
        source = sources.get(mid)
        if source is None:
            pt = codec.payloadType if codec is not None else None
            lines.append(MLine(mid, media.kind, media.profile, fmt, None, inactive_pt=pt))
            continue
        expected = "audio" if source == "microphone" else "video"
        if media.kind != expected:
            raise _invalid(f"mid {mid!r} is {media.kind} but source {source!r} is {expected}")
        if media.direction not in ("sendonly", "sendrecv"):
            raise _invalid(f"mid {mid!r} does not send ({media.direction})")
        if codec is None:
            names = ", ".join(c.mimeType for c in media.rtp.codecs) or "none"
            raise InvalidArgument(
                "unsupported_codec", f"mid {mid!r}: no supported codec among {names}"
            )
        exts = {e.uri: e.id for e in media.rtp.headerExtensions}
        feedback = tuple(
            f"{fb.type} {fb.parameter}" if fb.parameter else fb.type for fb in codec.rtcpFeedback
        )
        track = AcceptedTrack(
            mid=mid,
            kind=media.kind,
            source=source,
            codec=_codec_name(codec.mimeType),
            payload_type=codec.payloadType,
            clock_rate=codec.clockRate,
            channels=codec.channels,
            fmtp=_fmtp(codec.parameters),
            feedback=tuple(f for f in feedback if f in ACCEPTED_FEEDBACK),
            ssrc=_primary_ssrc(media),
            audio_level_ext=exts.get(URI_AUDIO_LEVEL),
            mid_ext=exts.get(URI_MID),
        )
        lines.append(MLine(mid, media.kind, media.profile, fmt, track))
    missing = set(sources) - seen
    if missing:
        raise _invalid(f"sources name mids not in the offer: {sorted(missing)}")
    if remote is None:
        raise _invalid("no audio or video m-line")
    return PublisherOffer(remote, tuple(lines))


def _ip_version(ip: str) -> str:
    return "IP6" if ":" in ip else "IP4"


def _session_header(local: LocalParams, bundle: list[str]) -> list[str]:
    return [
        "v=0",
        f"o=- {secrets.randbits(62)} {next(_versions)} IN {_ip_version(local.ip)} {local.ip}",
        "s=ilvb",
        "t=0 0",
        f"a=group:BUNDLE {' '.join(bundle)}" if bundle else "a=group:BUNDLE",
        "a=ice-lite",
        "a=msid-semantic: WMS *",
    ]


def _transport_lines(local: LocalParams, setup: str) -> list[str]:
    return [
        f"c=IN {_ip_version(local.ip)} {local.ip}",
        "a=rtcp-mux",
        f"a=ice-ufrag:{local.ice_ufrag}",
        f"a=ice-pwd:{local.ice_pwd}",
        f"a=fingerprint:sha-256 {local.fingerprint}",
        f"a=setup:{setup}",
        f"a=candidate:1 1 udp 2130706431 {local.ip} {local.port} typ host",
        "a=end-of-candidates",
    ]


def build_publisher_answer(offer: PublisherOffer, local: LocalParams) -> str:
    """Our answer: accepted m-lines ``recvonly``, others ``inactive`` or port 0."""
    setup = "passive" if offer.remote.dtls_role == "server" else "active"
    bundle = [m.mid for m in offer.lines if m.track is not None or m.inactive_pt is not None]
    out = _session_header(local, bundle)
    for m in offer.lines:
        if m.track is None and m.inactive_pt is None:
            out += [f"m={m.kind} 0 {m.proto} {' '.join(m.fmt)}", f"a=mid:{m.mid}", "a=inactive"]
            continue
        pt = m.track.payload_type if m.track is not None else m.inactive_pt
        out.append(f"m={m.kind} {local.port} UDP/TLS/RTP/SAVPF {pt}")
        out += _transport_lines(local, setup)
        out.append(f"a=mid:{m.mid}")
        t = m.track
        if t is None:
            out.append("a=inactive")
            continue
        out.append("a=recvonly")
        if t.mid_ext is not None:
            out.append(f"a=extmap:{t.mid_ext} {URI_MID}")
        if t.audio_level_ext is not None:
            out.append(f"a=extmap:{t.audio_level_ext} {URI_AUDIO_LEVEL}")
        channels = f"/{t.channels}" if t.channels else ""
        out.append(f"a=rtpmap:{t.payload_type} {t.codec}/{t.clock_rate}{channels}")
        for fb in t.feedback:
            out.append(f"a=rtcp-fb:{t.payload_type} {fb}")
        if t.fmtp:
            out.append(f"a=fmtp:{t.payload_type} {t.fmtp}")
    return "\r\n".join(out) + "\r\n"


def build_receive_offer(local: LocalParams, slots: list[SlotSpec]) -> str:
    """The SFU's offer for a receive transport: one ``sendonly`` m-line per fixed slot."""
    out = _session_header(local, [s.mid for s in slots])
    for slot in slots:
        codecs = OFFER_CODECS[slot.kind]
        out.append(
            f"m={slot.kind} {local.port} UDP/TLS/RTP/SAVPF {' '.join(str(c[1]) for c in codecs)}"
        )
        out += _transport_lines(local, "actpass")
        out += [f"a=mid:{slot.mid}", "a=sendonly", f"a=msid:ilvb-{slot.mid} {slot.mid}"]
        for name, pt, fmtp in codecs:
            channels = "/2" if name == "opus" else ""
            out.append(f"a=rtpmap:{pt} {name}/{CODEC_CLOCK[name]}{channels}")
            for fb in OFFER_FEEDBACK[slot.kind]:
                out.append(f"a=rtcp-fb:{pt} {fb}")
            if fmtp:
                out.append(f"a=fmtp:{pt} {fmtp}")
        out += [
            f"a=ssrc:{slot.ssrc} cname:{slot.cname}",
            f"a=ssrc:{slot.ssrc} msid:ilvb-{slot.mid} {slot.mid}",
        ]
    return "\r\n".join(out) + "\r\n"


def parse_receive_answer(sdp: str, slots: list[SlotSpec]) -> ReceiveAnswer:
    """Which codecs (by payload type) the client accepted in each slot of our offer."""
    desc = _parse(sdp)
    by_mid = {s.mid: s for s in slots}
    remote = None
    pts: dict[str, dict[str, int]] = {}
    rejected: set[str] = set()
    for index, media in enumerate(desc.media):
        mid = media.rtp.muxId or (slots[index].mid if index < len(slots) else str(index))
        slot = by_mid.get(mid)
        if slot is None:
            raise _invalid(f"answer has an m-line {mid!r} we did not offer")
        if media.kind != slot.kind:
            raise _invalid(f"answer m-line {mid!r} is {media.kind}, offered {slot.kind}")
        if media.port == 0 or media.direction in ("inactive", "sendonly"):
            rejected.add(mid)
            continue
        if remote is None:
            remote = _remote_params(media, answer=True)
        offered = {name: pt for name, pt, _ in OFFER_CODECS[slot.kind]}
        accepted: dict[str, int] = {}
        for codec in media.rtp.codecs:
            name = _codec_name(codec.mimeType)
            if name in offered and name not in accepted:
                if name == "H264" and not _h264_ok(codec.parameters):
                    continue
                accepted[name] = codec.payloadType
        pts[mid] = accepted
    if remote is None:
        raise _invalid("the answer accepts no slot")
    missing = set(by_mid) - set(pts) - rejected
    rejected |= missing
    return ReceiveAnswer(remote, pts, frozenset(rejected))


def new_cname() -> str:
    """A short random cname for one receive transport."""
    return f"ilvb-{secrets.token_hex(6)}"
