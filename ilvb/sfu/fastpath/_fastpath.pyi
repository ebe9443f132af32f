"""Types of the compiled extension ``_fastpath.c`` (see the package docstring)."""

from typing import Any

class Error(Exception):
    """Bad input to the C path (an unkeyed context, a packet length out of range)."""

class Tx:
    """A pylibsrtp ``Session`` (kept alive) and the address of its ``srtp_t``."""

    def __init__(self, owner: object, ctx: int, /) -> None: ...
    def protect(self, packet: bytes, /) -> bytes:
        """SRTP-protect one plain RTP packet with this context."""

def _bind(srtp_protect: int, /) -> None:
    """Bind the address of the ``srtp_protect`` to call."""

def forward(
    fd: int, data: bytes, header_len: int, items: list[tuple[Any, ...]], /
) -> tuple[int, int]:
    """Rewrite, protect and ``sendmmsg`` ``data`` for each item; ``(sent, failed)``."""
