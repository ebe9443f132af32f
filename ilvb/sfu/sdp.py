"""SDP for the SFU (RFC 8829 JSEP, RFC 8843 BUNDLE, RFC 8839 ICE, RFC 8842 DTLS, RFC 5761 mux).

Runs on the control-plane side of the media plane (it parses with ``aiortc.sdp``, which imports
aiortc's codecs): the workers only ever see the plain dataclasses below.

* A publisher's offer → :func:`parse_publisher_offer` (one codec per accepted m-line, the client's
  payload-type numbers and header-extension ids kept) → :func:`build_publisher_answer` (ICE-lite,
  our ufrag/pwd/fingerprint, one host candidate, BUNDLE, rtcp-mux, ``recvonly``; RTX of the
  chosen video codec and RED over Opus kept when offered).
* A receive transport → :func:`build_receive_offer` (fixed ``sendonly`` slots ``a0..``/``v0..``,
  each with its own SSRC, cname and msid; opus/111, VP8/96, H264/102) → the client's answer →
  :func:`parse_receive_answer` (which payload types the client accepted in each slot).

Input is untrusted: :func:`ilvb.sfu.sdp_lines.check_sdp` range-checks every line we read before
``aiortc.sdp`` parses it, so every error is ``invalid_sdp`` with a plain message. The m-lines
taken must be in one BUNDLE group (max-bundle ``a=bundle-only`` lines included).
"""

from __future__ import annotations

import itertools
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal

from ilvb.errors import InvalidArgument
from ilvb.sfu.dtls import DtlsRole
from ilvb.sfu.sdp_lines import (
    URI_AUDIO_LEVEL,
    URI_MID,
    URI_REPAIRED_RID,
    URI_RID,
    CheckedSdp,
    check_sdp,
)
from ilvb.sfu.transport import LocalParams, RemoteParams

Kind = Literal["audio", "video"]

ACCEPTED_FEEDBACK = {"nack", "nack pli", "ccm fir", "goog-remb"}

CODEC_CLOCK = {"opus": 48000, "red": 48000, "VP8": 90000, "H264": 90000}
# RFC 5761 §4: with rtcp-mux, RTP payload types 64..95 collide with RTCP packet types 192..223
# (marker bit set); the SFU's demultiplexer would take such RTP for RTCP.
RTCP_CONFLICT_PTS = range(64, 96)
# Payload types of the SFU's own offers (what Chromium uses for the same codecs).
OFFER_CODECS: dict[Kind, tuple[tuple[str, int, str], ...]] = {
    # RED (RFC 2198) after Opus: a client that takes it gets the publisher's redundancy as is
    "audio": (("opus", 111, "minptime=10;useinbandfec=1"), ("red", 63, "111/111")),
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
    # RFC 2198 RED wrapping this Opus (``red/48000/2``, fmtp ``PT/PT``), when the client
    # offered it: the answer puts it first, so Chromium sends its Opus frames with redundancy
    red_payload_type: int | None = None
    # RFC 4588 RTX for this video codec (``rtx/90000``, ``apt=`` its PT) and the RTX SSRC of
    # the offer's FID group: the publisher then answers NACKs on it
    rtx_payload_type: int | None = None
    rtx_ssrc: int | None = None
    # RFC 8853 simulcast: the encodings' rids in the offer's order (the Web SDK sends them
    # lowest resolution first) and the RFC 8852 extension ids that name them on each packet;
    # () for a single encoding
    rids: tuple[str, ...] = ()
    rid_ext: int | None = None
    repaired_rid_ext: int | None = None


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
    bundled: bool = True  # the offer had a BUNDLE group (the answer has one exactly then)

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


def _parse(sdp: str) -> tuple[Any, CheckedSdp]:
    """Check every line we read (:func:`check_sdp`), then parse; errors are ``invalid_sdp``."""
    if not isinstance(sdp, str) or not sdp.strip():
        raise _invalid("empty SDP")
    if len(sdp) > 256 * 1024:
        raise _invalid("SDP larger than 256 KiB")
    checked = check_sdp(sdp)
    from aiortc.sdp import SessionDescription  # control-plane side only (see module doc)

    try:
        return SessionDescription.parse(checked.text), checked
    except Exception as exc:  # what check_sdp let through and aiortc still refuses
        raise _invalid("malformed SDP") from exc


def _codec_name(mime: str) -> str:
    sub = mime.split("/", 1)[-1]
    return sub.lower() if sub.lower() in ("opus", "red") else sub.upper()


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


def _codec_ok(codec: Any, name: str) -> bool:
    """The numbers the SFU forwards with are sane: clock rate, channels, payload type."""
    if codec.payloadType in RTCP_CONFLICT_PTS or codec.clockRate != CODEC_CLOCK[name]:
        return False
    # RFC 7587 §7: always opus/48000/2 (and RED carrying it)
    return name not in ("opus", "red") or codec.channels == 2


def _choose_codec(media: Any) -> Any | None:
    for codec in media.rtp.codecs:
        name = _codec_name(codec.mimeType)
        if name not in CODEC_CLOCK or not _codec_ok(codec, name):
            continue
        if media.kind == "audio" and name == "opus":
            return codec
        if media.kind == "video" and (
            name == "VP8" or (name == "H264" and _h264_ok(codec.parameters))
        ):
            return codec
    return None


def _red_for(media: Any, opus_pt: int) -> int | None:
    """The payload type of a ``red/48000/2`` whose every block is ``opus_pt`` (fmtp
    ``111/111``: one redundant frame; longer chains allowed), or None."""
    want = str(opus_pt)
    for codec in media.rtp.codecs:
        if _codec_name(codec.mimeType) != "red" or not _codec_ok(codec, "red"):
            continue
        blocks = [str(k) for k, v in codec.parameters.items() if v is None]
        chain = blocks[0].split("/") if len(blocks) == 1 else []
        if 2 <= len(chain) <= 9 and all(b == want for b in chain):
            return int(codec.payloadType)
    return None


def _rtx_for(media: Any, pt: int) -> int | None:
    """The payload type of an ``rtx/90000`` with ``apt=pt``, or None."""
    for codec in media.rtp.codecs:
        if codec.mimeType.lower() != "video/rtx" or codec.clockRate != 90000:
            continue
        if codec.payloadType in RTCP_CONFLICT_PTS:
            continue
        if str(codec.parameters.get("apt")) == str(pt):
            return int(codec.payloadType)
    return None


def _rtx_ssrc(media: Any) -> int | None:
    """The second SSRC of the m-line's FID group (RFC 5576 §4.2: primary, then RTX)."""
    for group in media.ssrc_group:
        if group.semantic == "FID" and len(group.items) >= 2:
            return int(group.items[1])
    return None


def _bundle_mids(desc: Any) -> list[str] | None:
    """The mids of the offer's first BUNDLE group (the only one the SFU accepts), or None."""
    for group in desc.group:
        if group.semantic == "BUNDLE":
            return [str(m) for m in group.items]
    return None


def parse_publisher_offer(sdp: str, sources: dict[str, str]) -> PublisherOffer:
    """Parse a publisher's offer; m-lines whose mid is in ``sources`` become tracks.

    Every audio/video m-line the SFU takes must be in the offer's BUNDLE group (RFC 8843): its
    first mid (the offerer-tagged m-line) gives the transport's ICE/DTLS parameters, and a line
    there with port 0 and ``a=bundle-only`` (JSEP ``max-bundle``) is bundled, not rejected. An
    offer without a BUNDLE group is taken only when it has a single audio/video m-line.

    Raises ``invalid_sdp`` for malformed SDP or numbers out of range, missing ICE/DTLS
    attributes, an unbundled offer of several m-lines, a mapped mid that is absent, rejected,
    outside the BUNDLE group, of the wrong kind or not sending, and ``unsupported_codec`` when a
    mapped m-line has no codec the SFU forwards.
    """
    desc, checked = _parse(sdp)
    if not desc.media:
        raise _invalid("no m-lines")
    mids: list[str] = []
    for index, media in enumerate(desc.media):
        mid = media.rtp.muxId or str(index)
        if mid in mids:
            raise _invalid(f"duplicate mid {mid!r}")
        mids.append(mid)
    missing = set(sources) - set(mids)
    if missing:
        raise _invalid(f"sources name mids not in the offer: {sorted(missing)}")
    group = _bundle_mids(desc)
    av = [i for i, m in enumerate(desc.media) if m.kind in ("audio", "video") and m.port != 0]
    if group is None:
        if len(av) > 1:
            raise _invalid(
                "the offer has no a=group:BUNDLE: ilvb needs every audio/video m-line bundled "
                "on one transport (RFC 8843)"
            )
        bundle = {mids[i] for i in av}
        tagged = av[0] if av else None
    else:
        bundle = {mid for mid in group if mid in mids}
        if group[:1] != [m for m in group[:1] if m in mids]:
            raise _invalid("the first mid of the BUNDLE group is not an m-line of the offer")
        tagged = mids.index(group[0]) if group else None
        if tagged is not None and (desc.media[tagged].port == 0 or checked.bundle_only[tagged]):
            raise _invalid(f"the first mid of the BUNDLE group ({group[0]!r}) has port 0")
    if tagged is None:
        if sources:
            raise _invalid("no audio or video m-line to receive on")
        raise _invalid("no audio or video m-line")
    tag = desc.media[tagged]
    remote = _remote_params(tag, answer=False)
    if not tag.rtcp_mux:
        raise _invalid(f"m-line {mids[tagged]!r} without a=rtcp-mux")

    lines: list[MLine] = []
    for index, media in enumerate(desc.media):
        mid = mids[index]
        fmt = tuple(str(f) for f in media.fmt)
        source = sources.get(mid)
        # RFC 8843 §6: port 0 with a=bundle-only inside the group is bundled, not rejected
        live = mid in bundle and (media.port != 0 or checked.bundle_only[index])
        if media.kind not in ("audio", "video") or not live:
            if source is not None:
                if media.kind not in ("audio", "video"):
                    why = f"is {media.kind}, not audio or video"
                elif mid not in bundle and (media.port != 0 or checked.bundle_only[index]):
                    why = "is not in the BUNDLE group"
                else:
                    why = "is rejected (port 0 without a=bundle-only)"
                raise _invalid(f"mid {mid!r} of source {source!r} {why}")
            lines.append(MLine(mid, media.kind, media.profile, fmt, None))
            continue
        codec = _choose_codec(media)
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
            names = ", ".join(sorted({c.mimeType for c in media.rtp.codecs})) or "none"
            raise InvalidArgument(
                "unsupported_codec", f"mid {mid!r}: no supported codec among {names[:200]}"
            )
        exts = {e.uri: e.id for e in media.rtp.headerExtensions}
        feedback = tuple(
            f"{fb.type} {fb.parameter}" if fb.parameter else fb.type for fb in codec.rtcpFeedback
        )
        if media.kind == "audio" and "nack" not in feedback:
            # the SFU NACKs lost audio upstream (a few ms away) instead of leaving the hole to
            # the subscriber's concealment; Chromium keeps audio history when the answer says so
            feedback += ("nack",)
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
            red_payload_type=_red_for(media, codec.payloadType) if media.kind == "audio" else None,
            **_simulcast_fields(media, codec, feedback, checked, index),
        )
        lines.append(MLine(mid, media.kind, media.profile, fmt, track))
    _check_bundle_consistency(desc, [m.mid in bundle for m in lines])
    return PublisherOffer(remote, tuple(lines), bundled=group is not None)


def _check_bundle_consistency(desc: Any, bundled: list[bool]) -> None:
    """RFC 8843 §9.1/§10.1: on one transport an SSRC names one m-line, and an extension id one
    URI. The router demultiplexes by SSRC and reads one sdes:mid id per member."""
    owner: dict[int, int] = {}
    ext_uri: dict[int, str] = {}
    ext_id: dict[str, int] = {}
    for index, media in enumerate(desc.media):
        if not bundled[index]:
            continue
        ssrcs = {int(s.ssrc) for s in media.ssrc}
        ssrcs |= {int(i) for g in media.ssrc_group for i in g.items}
        for ssrc in ssrcs:
            if owner.setdefault(ssrc, index) != index:
                raise _invalid(f"SSRC {ssrc} is used by two m-lines of the BUNDLE group")
        for ext in media.rtp.headerExtensions:
            if ext_uri.setdefault(ext.id, ext.uri) != ext.uri:
                raise _invalid(f"extension id {ext.id} names two URIs in the BUNDLE group")
            if ext_id.setdefault(ext.uri, ext.id) != ext.id:
                raise _invalid(f"{ext.uri} has two extension ids in the BUNDLE group")


def _simulcast_fields(
    media: Any, codec: Any, feedback: tuple[str, ...], checked: CheckedSdp, index: int
) -> dict[str, Any]:
    """Simulcast (RFC 8853, rids named by the RFC 8852 extension) for a video m-line that
    offers it with the rid extension, else RTX as :func:`_rtx_fields` decides. A simulcast
    m-line has no SSRCs in the offer, so no RTX stream can be bound to its encodings: the
    answer leaves RTX out and the publisher retransmits on the encodings' own SSRCs."""
    rids = checked.send_rids[index] if checked.send_rids else ()
    rid_ext, repaired = checked.rid_ext[index] if checked.rid_ext else (None, None)
    if media.kind == "video" and rids and rid_ext is not None:
        return {"rids": rids, "rid_ext": rid_ext, "repaired_rid_ext": repaired}
    return _rtx_fields(media, codec, feedback)


def _rtx_fields(media: Any, codec: Any, feedback: tuple[str, ...]) -> dict[str, int | None]:
    """RTX for a video codec that is NACKed, when the offer has both the codec and its SSRC."""
    if media.kind != "video" or "nack" not in feedback:
        return {}
    pt, ssrc = _rtx_for(media, codec.payloadType), _rtx_ssrc(media)
    if pt is None or ssrc is None:
        return {}
    return {"rtx_payload_type": pt, "rtx_ssrc": ssrc}


def _ip_version(ip: str) -> str:
    return "IP6" if ":" in ip else "IP4"


def _session_header(local: LocalParams, bundle: list[str] | None) -> list[str]:
    """Session lines; ``bundle`` None: no BUNDLE group (the offer had none)."""
    out = [
        "v=0",
        f"o=- {secrets.randbits(62)} {next(_versions)} IN {_ip_version(local.ip)} {local.ip}",
        "s=ilvb",
        "t=0 0",
    ]
    if bundle is not None:
        out.append(f"a=group:BUNDLE {' '.join(bundle)}" if bundle else "a=group:BUNDLE")
    return out + ["a=ice-lite", "a=msid-semantic: WMS *"]


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
    out = _session_header(local, bundle if offer.bundled else None)
    for m in offer.lines:
        if m.track is None and m.inactive_pt is None:
            out += [f"m={m.kind} 0 {m.proto} {' '.join(m.fmt)}", f"a=mid:{m.mid}", "a=inactive"]
            continue
        pt = m.track.payload_type if m.track is not None else m.inactive_pt
        red = m.track.red_payload_type if m.track is not None else None
        rtx = m.track.rtx_payload_type if m.track is not None else None
        pts = f"{red} {pt}" if red is not None else str(pt)  # RED first: Chromium then sends it
        if rtx is not None:
            pts += f" {rtx}"
        out.append(f"m={m.kind} {local.port} UDP/TLS/RTP/SAVPF {pts}")
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
        if t.rids:
            out.append(f"a=extmap:{t.rid_ext} {URI_RID}")
            if t.repaired_rid_ext is not None:
                out.append(f"a=extmap:{t.repaired_rid_ext} {URI_REPAIRED_RID}")
        channels = f"/{t.channels}" if t.channels else ""
        out.append(f"a=rtpmap:{t.payload_type} {t.codec}/{t.clock_rate}{channels}")
        for fb in t.feedback:
            out.append(f"a=rtcp-fb:{t.payload_type} {fb}")
        if t.fmtp:
            out.append(f"a=fmtp:{t.payload_type} {t.fmtp}")
        if t.rtx_payload_type is not None:
            out.append(f"a=rtpmap:{t.rtx_payload_type} rtx/{t.clock_rate}")
            out.append(f"a=fmtp:{t.rtx_payload_type} apt={t.payload_type}")
        if t.red_payload_type is not None:
            out.append(f"a=rtpmap:{t.red_payload_type} red/{t.clock_rate}/2")
            out.append(f"a=fmtp:{t.red_payload_type} {t.payload_type}/{t.payload_type}")
        if t.rids:
            out += [f"a=rid:{rid} recv" for rid in t.rids]
            out.append(f"a=simulcast:recv {';'.join(t.rids)}")
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
            channels = "/2" if name in ("opus", "red") else ""
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
    """Which codecs (by payload type) the client accepted in each slot of our offer.

    The accepted slots must stay in one BUNDLE group (we offered one transport for all); a slot
    with port 0 and ``a=bundle-only`` inside the group is accepted (RFC 8843 §7.3).
    """
    desc, checked = _parse(sdp)
    by_mid = {s.mid: s for s in slots}
    group = _bundle_mids(desc)
    pts: dict[str, dict[str, int]] = {}
    rejected: set[str] = set()
    medias: dict[str, Any] = {}
    for index, media in enumerate(desc.media):
        mid = media.rtp.muxId or (slots[index].mid if index < len(slots) else str(index))
        slot = by_mid.get(mid)
        if slot is None:
            raise _invalid(f"answer has an m-line {mid!r} we did not offer")
        if mid in medias:
            raise _invalid(f"duplicate mid {mid!r}")
        if media.kind != slot.kind:
            raise _invalid(f"answer m-line {mid!r} is {media.kind}, offered {slot.kind}")
        bundled_zero = checked.bundle_only[index] and group is not None and mid in group
        if (media.port == 0 and not bundled_zero) or media.direction in ("inactive", "sendonly"):
            rejected.add(mid)
            continue
        if group is not None and mid not in group:
            raise _invalid(f"answer m-line {mid!r} is accepted outside the BUNDLE group")
        medias[mid] = media
        offered = {name: pt for name, pt, _ in OFFER_CODECS[slot.kind]}
        accepted: dict[str, int] = {}
        for codec in media.rtp.codecs:
            name = _codec_name(codec.mimeType)
            if name in offered and name not in accepted and _codec_ok(codec, name):
                if name == "H264" and not _h264_ok(codec.parameters):
                    continue
                accepted[name] = codec.payloadType
        pts[mid] = accepted
    if not medias:
        raise _invalid("the answer accepts no slot")
    if group is None and len(medias) > 1:
        raise _invalid("the answer has no a=group:BUNDLE: every slot is offered on one transport")
    tagged = next((mid for mid in group or () if mid in medias), next(iter(medias)))
    if medias[tagged].port == 0:
        raise _invalid(f"the first accepted mid of the BUNDLE group ({tagged!r}) has port 0")
    remote = _remote_params(medias[tagged], answer=True)
    missing = set(by_mid) - set(pts) - rejected
    rejected |= missing
    return ReceiveAnswer(remote, pts, frozenset(rejected))


def new_cname() -> str:
    """A short random cname for one receive transport."""
    return f"ilvb-{secrets.token_hex(6)}"
