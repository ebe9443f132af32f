"""ICE-lite responder (RFC 8445 §2.5) for all transports on one worker UDP socket.

A lite agent never sends checks: it only answers the client's STUN Binding requests. The request's
USERNAME is ``"<server ufrag>:<client ufrag>"``; the server ufrag selects the transport, whose local
password keys MESSAGE-INTEGRITY (RFC 8489 §14.5) in both directions, and the client ufrag must be
the one its SDP gave. A valid request tells the transport the client's address; the transport
keeps the address of the latest nominated (USE-CANDIDATE) request, or any valid one until
something is nominated.

Every datagram it refuses (malformed, unknown ufrag, bad integrity …) is a counted drop in
:attr:`IceLiteResponder.faults`; only the first of each reason is logged (the source is anyone).

Consent freshness (RFC 7675): a transport that has heard nothing (STUN, DTLS, RTP) for
:data:`CONSENT_TIMEOUT_S` is dead; the worker's tick checks it. Long before that, after
:data:`PATH_LOST_S` of silence, the transport reports its path *lost* (the member is
reconnecting) and reports it back as soon as anything valid arrives again.

ICE restart (RFC 8445 §9): a transport may hold two generations of credentials for a while —
the new one from the restart and the previous one, still answered until the first valid check
with the new ufrag arrives — so an endpoint can own several ufrags (:meth:`IceEndpoint.ice_ufrags`).
"""

from __future__ import annotations

import logging
import secrets
import string
from dataclasses import dataclass
from typing import Protocol

from aioice import stun

from ilvb.sfu.faults import FaultLog

logger = logging.getLogger(__name__)

# RFC 7675 §5.1: consent expires 30 s after the last response we could verify.
CONSENT_TIMEOUT_S = 30.0
# Nothing heard from a connected client for this long: its media path is lost (clients send
# media, RTCP at least every second or so, and STUN checks; the SFU reports the member as
# reconnecting, the client restarts ICE). Loss alone does not get there: at 50 % loss some of
# a second's packets arrive.
PATH_LOST_S = 1.5

_ICE_CHARS = string.ascii_letters + string.digits


@dataclass(frozen=True)
class IceParams:
    """Local (or remote) ICE credentials: ufrag ≥ 4 chars, pwd ≥ 22 chars (RFC 8839 §5.4)."""

    ufrag: str
    pwd: str

    @classmethod
    def generate(cls) -> IceParams:
        """Fresh random credentials."""
        return cls(
            ufrag="".join(secrets.choice(_ICE_CHARS) for _ in range(8)),
            pwd="".join(secrets.choice(_ICE_CHARS) for _ in range(24)),
        )


class IceEndpoint(Protocol):
    """What the responder needs from a transport."""

    ice_params: IceParams

    def ice_ufrags(self) -> list[str]:
        """Every local ufrag answered now (the current one, and the previous one for a while
        after an ICE restart)."""
        ...

    def ice_credentials(self, ufrag: str) -> tuple[str, str | None] | None:
        """For one of :meth:`ice_ufrags`: (local password, the client ufrag USERNAME must end
        with, or None while the client's is not known yet); None for a retired ufrag."""
        ...

    def on_ice_binding(self, addr: tuple[str, int], nominated: bool, ufrag: str = "") -> None:
        """A valid Binding request for local ``ufrag`` came from ``addr``."""
        ...


def is_stun(data: bytes) -> bool:
    """RFC 7983 §7: first byte 0..3 is STUN."""
    return len(data) >= 20 and data[0] < 4


class IceLiteResponder:
    """Maps server ufrags to transports and answers their Binding requests."""

    def __init__(self, faults: FaultLog | None = None) -> None:
        self._by_ufrag: dict[str, IceEndpoint] = {}
        self.requests = 0
        self.rejected = 0
        # every refused datagram is counted by reason; only the first of each reason is logged
        self.faults = faults if faults is not None else FaultLog(logger)

    def register(self, endpoint: IceEndpoint) -> None:
        """Start answering for every ufrag of ``endpoint`` (again after an ICE restart)."""
        for ufrag in endpoint.ice_ufrags():
            self._by_ufrag[ufrag] = endpoint

    def unregister(self, endpoint: IceEndpoint, ufrags: list[str] | None = None) -> None:
        """Stop answering for this endpoint's ufrags (or only ``ufrags``); idempotent."""
        for ufrag in endpoint.ice_ufrags() if ufrags is None else ufrags:
            if self._by_ufrag.get(ufrag) is endpoint:
                del self._by_ufrag[ufrag]

    def __len__(self) -> int:
        return len(self._by_ufrag)

    def handle(self, data: bytes, addr: tuple[str, int]) -> tuple[IceEndpoint, bytes] | None:
        """Answer one datagram. Returns (endpoint, response bytes) or None to drop it."""
        try:
            request = stun.parse_message(data)
        except Exception:  # ValueError, struct.error, UnicodeDecodeError …: all are malformed
            self._drop("stun.malformed", addr)
            return None
        if (
            request.message_method != stun.Method.BINDING
            or request.message_class != stun.Class.REQUEST
        ):
            return None  # indications and stray responses need no answer
        self.requests += 1
        username = request.attributes.get("USERNAME")
        if not isinstance(username, str) or ":" not in username:
            self._drop("stun.no_username", addr)
            return None
        local_ufrag, remote_ufrag = username.split(":", 1)
        endpoint = self._by_ufrag.get(local_ufrag)
        creds = endpoint.ice_credentials(local_ufrag) if endpoint is not None else None
        if endpoint is None or creds is None:
            self._drop("stun.unknown_ufrag", addr)
            return None
        pwd, expected_remote = creds
        if expected_remote is not None and expected_remote != remote_ufrag:
            self._drop("stun.wrong_remote_ufrag", addr)
            return None
        key = pwd.encode()
        try:
            valid = request.check_message_integrity(key)
        except Exception:
            valid = False
        if not valid:
            self._drop("stun.bad_integrity", addr)
            return None
        response = stun.Message(
            message_method=stun.Method.BINDING,
            message_class=stun.Class.RESPONSE,
            transaction_id=request.transaction_id,
        )
        response.attributes["XOR-MAPPED-ADDRESS"] = (addr[0], addr[1])
        response.add_message_integrity(key)  # also adds FINGERPRINT
        endpoint.on_ice_binding(addr, "USE-CANDIDATE" in request.attributes, local_ufrag)
        return endpoint, bytes(response)

    def _drop(self, reason: str, addr: tuple[str, int]) -> None:
        """Count a refused datagram (the first of each reason is logged)."""
        self.rejected += 1
        self.faults.dropped(reason, f"STUN datagram from {addr[0]}:{addr[1]} dropped")
