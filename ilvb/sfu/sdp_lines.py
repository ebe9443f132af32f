"""Line-by-line checks of an untrusted SDP before it is parsed (RFC 8866 grammar, our limits).

The SDP a client sends is attacker-controlled, and every number taken from it ends up in the
worker: SSRCs and payload types are packed into RTP/RTCP headers (``struct.pack("!I")``),
extension ids index header elements. :func:`check_sdp` walks the text once, before
``aiortc.sdp`` sees it, and refuses with ``invalid_sdp`` and a plain message (the attribute and
its line number, never parser internals) any line whose numbers or tokens are out of range:

==========================  ==================================================================
``m=``                      port 0..65535; audio/video formats 0..127; at most 64 m-lines
``a=rtpmap``                payload type 0..127, encoding name token, clock 1..2³²−1,
                            channels 1..255
``a=fmtp`` / ``a=rtcp-fb``  payload type 0..127 (``*`` for rtcp-fb) that the m-line lists;
                            fmtp ``key=value`` pairs, numeric values 0..2³²−1
``a=extmap``                id 1..14, or 1..255 with ``a=extmap-allow-mixed``; no id twice
``a=ssrc``/``ssrc-group``   SSRC 0..2³²−1
``a=mid`` / ``a=rid``       1..32 token characters / 1..16 of ``[A-Za-z0-9_-]``
``a=simulcast``             ``send``/``recv`` lists of rids (RFC 8853); the send rids kept
                            per m-line with the rid extension ids (aiortc reads neither)
``a=ice-ufrag``/``ice-pwd`` 4..256 / 22..256 ice-chars (RFC 8839 §5.4)
``a=setup``                 active, passive or actpass (holdconn is refused by name)
==========================  ==================================================================

Attributes the SFU never reads (candidates: ICE-lite learns addresses from STUN; ``a=rtcp``,
SCTP, extensions it does not forward, ``c=``) are dropped from the text handed to the parser,
so nothing in them can fail it. The result also records, per m-line, ``a=bundle-only``
(RFC 8843 §6), which ``aiortc.sdp`` does not keep.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ilvb.errors import InvalidArgument

MAX_M_LINES = 64
MAX_U32 = 2**32 - 1
# RTCP SR, RR, SDES, BYE, APP (200..204) read as RTP marker + payload type (RFC 5761 §4)
RTCP_TYPES_AS_PT = range(72, 77)

URI_AUDIO_LEVEL = "urn:ietf:params:rtp-hdrext:ssrc-audio-level"
URI_MID = "urn:ietf:params:rtp-hdrext:sdes:mid"
# RFC 8852: the RTP stream id of a simulcast encoding (and of its RTX stream)
URI_RID = "urn:ietf:params:rtp-hdrext:sdes:rtp-stream-id"
URI_REPAIRED_RID = "urn:ietf:params:rtp-hdrext:sdes:repaired-rtp-stream-id"
KEPT_EXTENSIONS = (URI_AUDIO_LEVEL, URI_MID)
# read from the checked text itself (aiortc.sdp keeps neither them nor a=rid / a=simulcast)
SIMULCAST_EXTENSIONS = (URI_RID, URI_REPAIRED_RID)
# RFC 8853: at most this many simulcast encodings are taken from one m-line
MAX_RIDS = 4

_TOKEN = r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]+"  # RFC 8866 token
_ICE_CHARS = r"[A-Za-z0-9+/]"
_NUM = r"[0-9]{1,20}"  # ASCII digits only: int() would also take "+5", " 5", "1_0", "٣"

_LINE = re.compile(r"[a-z]=[^\x00-\x08\x0a-\x1f\x7f]*")
_M_LINE = re.compile(rf"m=({_TOKEN}) ([0-9]{{1,5}}) ([A-Z/]{{1,64}})((?: \S+)+)")
_RTPMAP = re.compile(rf"({_NUM}) ([A-Za-z0-9._\-]{{1,32}})/({_NUM})(?:/({_NUM}))?")
_FMTP = re.compile(rf"({_NUM}) (.{{1,1024}})")
# key=value, or a bare value ("111/111" of RED); printable ASCII, no ';' or space
_FMTP_PARAM = re.compile(r"(?:([A-Za-z0-9._\-]{1,64})=([!-:<-~]{0,512}))|([!-:<-~]{1,512})")
_RTCP_FB = re.compile(rf"({_NUM}|\*) ({_TOKEN})(?: ({_TOKEN}))?(?: (.*))?")
_EXTMAP = re.compile(rf"({_NUM})(/(?:sendrecv|sendonly|recvonly|inactive))? (\S{{1,256}})( .*)?")
_SSRC = re.compile(rf"({_NUM}) ({_TOKEN})(?::(.{{0,256}}))?")
_SSRC_GROUP = re.compile(rf"({_TOKEN})((?: {_NUM})+)")
_MID = re.compile(r"[!#$%&'*+\-.0-9A-Z^_`a-z{|}~]{1,32}")
_RID = re.compile(r"([A-Za-z0-9_\-]{1,16}) (send|recv)(?: .*)?")
# RFC 8853 §5.1: a=simulcast:send r0;r1;~r2 (alternatives r0,r1: the first is taken)
_STREAMS = r"([A-Za-z0-9_\-~,;]{1,200})"
_SIMULCAST = re.compile(rf"(send|recv) {_STREAMS}(?: (send|recv) {_STREAMS})?")
_UFRAG = re.compile(rf"{_ICE_CHARS}{{4,256}}")
_PWD = re.compile(rf"{_ICE_CHARS}{{22,256}}")
_FINGERPRINT = re.compile(r"([A-Za-z0-9\-]{1,16}) ([0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){15,63})")
_GROUP = re.compile(rf"({_TOKEN})((?: {_MID.pattern})*)")
_MSID = re.compile(rf"{_TOKEN}(?: {_TOKEN})?")

# fmtp parameters aiortc reads as integers (aiortc.sdp.FMTP_INT_PARAMETERS)
_INT_PARAMS = frozenset(
    {"apt", "max-fr", "max-fs", "maxplaybackrate", "minptime", "stereo", "useinbandfec"}
)

# dropped before parsing: the SFU does not read them (see the module doc)
_UNUSED = frozenset(
    {"candidate", "end-of-candidates", "rtcp", "sctp-port", "sctpmap", "max-message-size"}
)


@dataclass(frozen=True)
class CheckedSdp:
    """The SDP to parse (unused lines removed) and what the parser does not keep."""

    text: str
    bundle_only: tuple[bool, ...]  # per m-line
    allow_mixed_ext: tuple[bool, ...]  # per m-line: two-byte extension ids (1..255) allowed
    # per m-line: the rids it sends as simulcast (RFC 8853 a=simulcast:send order, paused
    # ones left out), () when it is not simulcast
    send_rids: tuple[tuple[str, ...], ...] = ()
    # per m-line: the ids of the rid and repaired-rid extensions (RFC 8852), or None
    rid_ext: tuple[tuple[int | None, int | None], ...] = ()


def _invalid(message: str) -> InvalidArgument:
    return InvalidArgument("invalid_sdp", message)


def _u32(text: str, what: str, where: str, low: int = 0, high: int = MAX_U32) -> int:
    value = int(text)
    if not low <= value <= high:
        raise _invalid(f"{what} must be {low}..{high} ({where})")
    return value


class _Section:
    """What the checks remember about the current m-line (or the session part)."""

    def __init__(self, kind: str | None, formats: frozenset[int], where: str) -> None:
        self.kind = kind
        self.formats = formats
        self.where = where
        self.rtpmaps: set[int] = set()
        self.fmtps: dict[int, str] = {}  # payload type -> where
        self.ext_ids: dict[int, str] = {}  # id -> where
        self.bundle_only = False
        self.allow_mixed = False
        self.mid_seen = False
        self.rids: list[str] = []  # a=rid:X send, in order
        self.simulcast: list[str] | None = None  # a=simulcast send list
        self.rid_ext: int | None = None
        self.repaired_rid_ext: int | None = None

    def send_rids(self) -> tuple[str, ...]:
        """The simulcast encodings this m-line sends (a=simulcast order, declared rids only)."""
        if self.simulcast is None or len(self.rids) < 2:
            return ()
        return tuple(r for r in self.simulcast if r in self.rids)[:MAX_RIDS]


def check_sdp(sdp: str) -> CheckedSdp:
    """Refuse an SDP with an out-of-range number or a malformed line we read (``invalid_sdp``)."""
    session = _Section(None, frozenset(), "session")
    sections: list[_Section] = []
    cur = session
    kept: list[str] = []
    for number, raw in enumerate(sdp.splitlines(), 1):
        line = raw.rstrip(" \t")
        if not line:
            continue
        where = f"line {number}"
        if not _LINE.fullmatch(line):
            raise _invalid(f"{where} is not an SDP line (x=value)")
        if line.startswith("v=") and line != "v=0":
            raise _invalid(f"only SDP version 0 is supported ({where})")
        if line.startswith("c="):
            continue  # connection data: the SFU answers with its own address
        if line.startswith("m="):
            if sections:
                _finish(sections[-1], session.allow_mixed)
            cur = _check_m_line(line, where)
            sections.append(cur)
            if len(sections) > MAX_M_LINES:
                raise _invalid(f"more than {MAX_M_LINES} m-lines")
            kept.append(line)
            continue
        if line.startswith("a="):
            name, _, value = line[2:].partition(":")
            if name in _UNUSED:
                continue
            checked = _check_attribute(cur, cur is session, name, value, f"a={name} ({where})")
            if checked is not None:
                kept.append(checked)
            continue
        kept.append(line)
    if sections:
        _finish(sections[-1], session.allow_mixed)
    return CheckedSdp(
        "\r\n".join(kept) + "\r\n",
        tuple(s.bundle_only for s in sections),
        tuple(session.allow_mixed or s.allow_mixed for s in sections),
        tuple(s.send_rids() for s in sections),
        tuple((s.rid_ext, s.repaired_rid_ext) for s in sections),
    )


def _finish(section: _Section, session_mixed: bool) -> None:
    """Checks that need the whole m-line: fmtp targets, extension id range."""
    for pt, where in section.fmtps.items():
        if pt not in section.rtpmaps:
            raise _invalid(f"fmtp for payload type {pt}, which has no rtpmap ({where})")
    high = 255 if session_mixed or section.allow_mixed else 14
    for ext_id, where in section.ext_ids.items():
        if ext_id > high:
            raise _invalid(
                f"extension id {ext_id} needs a=extmap-allow-mixed, else 1..14 ({where})"
            )


def _check_m_line(line: str, where: str) -> _Section:
    m = _M_LINE.fullmatch(line)
    if m is None:
        raise _invalid(f"malformed m-line ({where})")
    kind, port, _proto, fmt = m.groups()
    _u32(port, "the m-line port", where, 0, 65535)
    formats: set[int] = set()
    if kind in ("audio", "video"):
        for f in fmt.split():
            if not re.fullmatch(_NUM, f):
                raise _invalid(f"an m-line format must be a payload type 0..127 ({where})")
            pt = _u32(f, "a payload type", where, 0, 127)
            if pt in RTCP_TYPES_AS_PT:
                raise _invalid(f"payload type {pt} is an RTCP packet type (RFC 5761 §4) ({where})")
            formats.add(pt)
    return _Section(kind, frozenset(formats), where)


def _check_attribute(
    cur: _Section, at_session: bool, name: str, value: str, where: str
) -> str | None:
    """Check one ``a=`` line; the line to hand to the parser, or None to leave it out."""
    line = f"a={name}:{value}" if value else f"a={name}"
    if name == "rtpmap":
        m = _RTPMAP.fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        pt = _check_pt(cur, m.group(1), where)
        _u32(m.group(3), "the clock rate", where, 1)
        if m.group(4) is not None:
            _u32(m.group(4), "the channel count", where, 1, 255)
        if pt in cur.rtpmaps:
            raise _invalid(f"payload type {pt} mapped twice ({where})")
        cur.rtpmaps.add(pt)
    elif name == "fmtp":
        m = _FMTP.fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        pt = _check_pt(cur, m.group(1), where)
        cur.fmtps[pt] = where
        params = [p.strip() for p in m.group(2).split(";") if p.strip()]
        for param in params:
            _check_fmtp_param(param, where)
        if not params:
            return None
        line = f"a=fmtp:{pt} {';'.join(params)}"  # "k=v; k=v" written as aiortc reads it
    elif name == "rtcp-fb":
        m = _RTCP_FB.fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        if m.group(1) != "*":
            _check_pt(cur, m.group(1), where)
    elif name == "extmap":
        m = _EXTMAP.fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        ext_id = _u32(m.group(1), "an extension id", where, 1, 255)
        uri = m.group(3)
        if ext_id in cur.ext_ids:
            raise _invalid(f"extension id {ext_id} used twice ({where})")
        cur.ext_ids[ext_id] = where
        if uri == URI_RID:
            cur.rid_ext = ext_id
        elif uri == URI_REPAIRED_RID:
            cur.repaired_rid_ext = ext_id
        if uri not in KEPT_EXTENSIONS or m.group(4) is not None:
            return None  # not forwarded (or with extension attributes): not parsed either
    elif name == "extmap-allow-mixed":
        cur.allow_mixed = True
    elif name in ("ssrc", "ssrc-group"):
        m = (_SSRC if name == "ssrc" else _SSRC_GROUP).fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        numbers = m.group(1).split() if name == "ssrc" else m.group(2).split()
        for n in numbers:
            _u32(n, "an SSRC", where)
        if name == "ssrc" and m.group(3) is None:
            return None  # a property attribute without value: nothing the SFU reads
    elif name == "mid":
        if not _MID.fullmatch(value):
            raise _invalid(f"a mid is 1..32 token characters ({where})")
        if cur.mid_seen:
            raise _invalid(f"two a=mid in one m-line ({where})")
        cur.mid_seen = True
    elif name == "rid":
        if not _RID.fullmatch(value):
            raise _invalid(f"a rid is 1..16 of [A-Za-z0-9_-] and send|recv ({where})")
        rid, direction = value.split(" ", 2)[:2]
        if direction == "send" and rid not in cur.rids:
            cur.rids.append(rid)
        return None  # aiortc.sdp does not read it
    elif name == "simulcast":
        m = _SIMULCAST.fullmatch(value)
        if m is None:
            raise _invalid(f"malformed {where}")
        for direction, streams in ((m.group(1), m.group(2)), (m.group(3), m.group(4))):
            if direction == "send" and streams:
                # each ';' item is a list of alternatives: the first, unless paused (~)
                firsts = [item.split(",")[0] for item in streams.split(";") if item]
                cur.simulcast = [r for r in firsts if r and not r.startswith("~")]
        return None
    elif name == "ice-ufrag":
        if not _UFRAG.fullmatch(value):
            raise _invalid(f"an ice-ufrag is 4..256 ice-chars ({where})")
    elif name == "ice-pwd":
        if not _PWD.fullmatch(value):
            raise _invalid(f"an ice-pwd is 22..256 ice-chars ({where})")
    elif name == "fingerprint":
        if not _FINGERPRINT.fullmatch(value):
            raise _invalid(f"malformed {where}")
    elif name == "setup":
        if value == "holdconn":
            raise _invalid(f"a=setup:holdconn is not supported ({where})")
        if value not in ("active", "passive", "actpass"):
            raise _invalid(f"a=setup must be active, passive or actpass ({where})")
    elif name == "group":
        if not _GROUP.fullmatch(value):
            raise _invalid(f"malformed {where}")
    elif name == "msid-semantic":
        if not value.strip():
            return None  # nothing to read
    elif name == "msid":
        if not _MSID.fullmatch(value):
            raise _invalid(f"malformed {where}")
    elif name == "bundle-only":
        if at_session:
            raise _invalid(f"a=bundle-only belongs to an m-line ({where})")
        cur.bundle_only = True
    return line


def _check_fmtp_param(param: str, where: str) -> None:
    p = _FMTP_PARAM.fullmatch(param)
    if p is None:
        raise _invalid(f"malformed parameter in {where}")
    key, val, _bare = p.groups()
    if val is not None and re.fullmatch(_NUM, val):
        _u32(val, f"parameter {key}", where)
    elif key in _INT_PARAMS and val is not None:
        raise _invalid(f"parameter {key} must be a number ({where})")


def _check_pt(cur: _Section, text: str, where: str) -> int:
    pt = _u32(text, "a payload type", where, 0, 127)
    if cur.kind in ("audio", "video") and pt not in cur.formats:
        raise _invalid(f"payload type {pt} is not listed in its m-line ({where})")
    return pt
