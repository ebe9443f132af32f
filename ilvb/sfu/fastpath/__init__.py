"""The optional compiled fan-out: header rewrite + SRTP protect + ``sendmmsg`` in one C call.

``_fastpath`` (``_fastpath.c``, built at install by ``setup.py`` against libsrtp2; Debian
package ``libsrtp2-dev``) does, for ONE incoming packet and the list of its consumers, what
:meth:`ilvb.sfu.consumer.Consumer.send` does per consumer in Python, minus the munger: the
caller passes each consumer's rewritten ``(seq, timestamp)``. When the extension is missing the
SFU forwards on the pure-Python path (:data:`AVAILABLE` is False and the worker logs why).

SRTP state: libsrtp keeps the rollover counter and the replay window per SSRC *inside* one
context, so when the fast path is on, ALL outgoing RTP of a transport (forwarded packets and
NACK retransmissions) goes through the transport's :class:`Tx`; RTCP stays on pylibsrtp.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

logger = logging.getLogger(__name__)

if TYPE_CHECKING:  # pragma: no cover
    from ilvb.sfu.dtls import DtlsSrtp

try:
    from ilvb.sfu.fastpath import _fastpath
except ImportError as exc:  # not built (no gcc / libsrtp2-dev at install time)
    _fastpath = None  # type: ignore[assignment]
    IMPORT_ERROR: str | None = str(exc)
else:
    IMPORT_ERROR = None

AVAILABLE = _fastpath is not None
"""True when the C extension imported."""

Tx: Any = _fastpath.Tx if _fastpath is not None else None
"""``Tx(profile, key)``: one outbound SRTP context; ``.protect(packet) -> bytes``."""

Error: type[Exception] = _fastpath.Error if _fastpath is not None else RuntimeError

forward: Any = _fastpath.forward if _fastpath is not None else None
"""``forward(fd, data, header_len, items) -> (sent, failed)``; items are
``(Tx, (ip, port), payload_type, seq, timestamp, ssrc)`` tuples."""


def tx_for(dtls: DtlsSrtp) -> Any | None:
    """A :class:`Tx` keyed like ``dtls.tx`` (same profile, our side's key and salt), or None
    when the extension is missing, DTLS has no keys yet or libsrtp2 refuses the profile."""
    if _fastpath is None:
        return None
    # DtlsSrtp keeps (profile, exported keying material) after the handshake; our sending
    # key is the client's when we are the DTLS client (RFC 5764 §4.2), as in DtlsSrtp.
    material = getattr(dtls, "_material", None)
    if material is None or dtls.role is None:
        return None
    profile, keying = material
    tx_idx = 1 if dtls.role == "server" else 0
    try:
        return _fastpath.Tx(profile.libsrtp, profile.key_and_salt(keying, tx_idx))
    except _fastpath.Error as exc:
        logger.info("fast path: no C SRTP context for this transport (%s)", exc)
        return None
