"""The optional compiled fan-out: header rewrite + SRTP protect + ``sendmmsg`` in one C call.

``_fastpath`` (``_fastpath.c``, built at install by ``setup.py`` with the machine's gcc) does,
for ONE incoming packet and the list of its consumers, what
:meth:`ilvb.sfu.consumer.Consumer.send` does per consumer in Python, minus the munger: the
caller passes each consumer's rewritten ``(seq, timestamp)``. When the extension is missing or
fails its self-check, :data:`AVAILABLE` is False (:data:`IMPORT_ERROR` says why) and the SFU
forwards on the pure-Python path (the worker logs it).

SRTP: the C code calls ``srtp_protect`` of the libsrtp that pylibsrtp carries (OpenSSL-backed),
on the transport's own pylibsrtp ``Session`` (:func:`tx_for`). Forwarded packets, NACK answers
(pylibsrtp, ``allow_repeat_tx``) and RTCP therefore share ONE libsrtp context per transport, so
the rollover counter of every SSRC stays right whichever path protected the previous packet.
(Debian's libsrtp2 is NSS-backed and measured 11.2 µs per protect against 6.7 µs for pylibsrtp
including its Python overhead, see docs/internals/hotpath.md.)
"""

from __future__ import annotations

import logging
import os
from typing import Any

import pylibsrtp

logger = logging.getLogger(__name__)

_c: Any = None
IMPORT_ERROR: str | None = None
_ffi: Any = None

try:
    from pylibsrtp import _binding

    from ilvb.sfu.fastpath import _fastpath as _ext

    _ffi = _binding.ffi
    _ext._bind(int(_ffi.cast("uintptr_t", _ffi.addressof(_binding.lib, "srtp_protect"))))
    _c = _ext
except (ImportError, AttributeError) as exc:  # not built, or a pylibsrtp without cffi lib
    IMPORT_ERROR = f"{type(exc).__name__}: {exc}"

Error: type[Exception] = _c.Error if _c is not None else RuntimeError
"""What the C path raises on bad input (``RuntimeError`` stand-in when it is missing)."""


def tx_for(session: pylibsrtp.Session | None) -> Any | None:
    """The C handle on ``session``'s libsrtp context (``.protect(packet) -> bytes``), or None
    when the fast path is unavailable or ``session`` is None."""
    if _c is None or session is None:
        return None
    ctx = getattr(session, "_srtp", None)  # pylibsrtp: ffi.gc'd "srtp_t *"
    if ctx is None:
        return None
    return _c.Tx(session, int(_ffi.cast("uintptr_t", ctx[0])))


def forward(fd: int, data: bytes, header_len: int, items: list[tuple[Any, ...]]) -> Any:
    """``(sent, failed)`` after rewriting ``data`` for each ``(tx, addr, pt, seq, ts, ssrc)``
    item, protecting it with ``tx`` and sending everything with sendmmsg on ``fd``."""
    return _c.forward(fd, data, header_len, items)


def _self_check() -> str | None:
    """Protect one packet through C and through pylibsrtp with the same key: must be equal
    (guards against a pylibsrtp whose internals differ from what the C code expects)."""
    key = os.urandom(30)
    plain = bytes([0x80, 96, 0, 1, 0, 0, 0, 1, 0, 0, 0, 7]) + bytes(range(100))
    sessions = []
    for _ in range(2):
        policy = pylibsrtp.Policy(key=key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND)
        sessions.append(pylibsrtp.Session(policy))
    tx = tx_for(sessions[0])
    if tx is None or tx.protect(plain) != sessions[1].protect(plain):
        return "self-check failed: C and pylibsrtp protect differ"
    return None


if _c is not None:
    try:
        IMPORT_ERROR = _self_check()
    except Exception as exc:  # pragma: no cover - defensive: never break the import
        IMPORT_ERROR = f"self-check raised {exc!r}"
    if IMPORT_ERROR is not None:
        _c = None

AVAILABLE = _c is not None
"""True when the C extension is built, bound to pylibsrtp's libsrtp and passed its check."""
if _c is not None:
    forward = _c.forward  # noqa: F811 - the C function itself, one call layer less per packet
