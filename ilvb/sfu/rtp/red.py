"""RTP payload for redundant audio (RFC 2198, ``red/48000/2``): parse, unpack, re-label.

A RED payload is a chain of block headers, then the block data in the same order::

    redundant block header (4 bytes): F=1 | block PT (7) | timestamp offset (14) | length (10)
    primary block header   (1 byte) : F=0 | block PT (7)
    redundant data ... primary data

Chromium sends Opus in RED with the previous frame(s) as redundancy when ``red/48000/2`` is
negotiated before Opus. The SFU forwards RED unchanged (block PTs re-labelled if the subscriber
numbers Opus differently) to subscribers that accept it, and sends the **primary** block as a
plain Opus packet to those that don't (:func:`primary`). Every length is checked against the
payload: a malformed RED packet yields ``None``, never an exception or a short read.
"""

from __future__ import annotations

from dataclasses import dataclass

# RFC 2198 §3: the timestamp offset has 14 bits, the block length 10.
MAX_TS_OFFSET = (1 << 14) - 1
MAX_BLOCK_LEN = (1 << 10) - 1
# More redundant blocks than this is not something a real sender does (Chromium: 1-2).
MAX_BLOCKS = 8


@dataclass(frozen=True, slots=True)
class RedBlock:
    """One block: its payload type, how far before the packet's timestamp it was sampled (0 for
    the primary), and where its data lies in the RED payload (``start:end``)."""

    payload_type: int
    ts_offset: int
    start: int
    end: int


def parse_red(payload: bytes | memoryview) -> list[RedBlock] | None:
    """The blocks of a RED payload, oldest redundancy first and the primary last; ``None``
    when the headers are truncated, claim more data than there is, or chain too many blocks."""
    n = len(payload)
    pos = 0
    heads: list[tuple[int, int, int]] = []  # (pt, ts offset, length) of the redundant blocks
    while True:
        if pos >= n:
            return None
        b0 = payload[pos]
        if not b0 & 0x80:  # F=0: the primary's one-byte header ends the chain
            primary_pt = b0 & 0x7F
            pos += 1
            break
        if pos + 4 > n or len(heads) >= MAX_BLOCKS:
            return None
        word = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        heads.append((b0 & 0x7F, word >> 10, word & 0x3FF))
        pos += 4
    blocks: list[RedBlock] = []
    for pt, offset, length in heads:
        if pos + length > n:
            return None
        blocks.append(RedBlock(pt, offset, pos, pos + length))
        pos += length
    blocks.append(RedBlock(primary_pt, 0, pos, n))
    return blocks


def primary(payload: bytes | memoryview) -> tuple[int, bytes] | None:
    """(block PT, data) of the primary block: what a subscriber without RED gets as plain
    Opus. ``None`` for a malformed payload."""
    blocks = parse_red(payload)
    if blocks is None:
        return None
    last = blocks[-1]
    return last.payload_type, bytes(payload[last.start : last.end])


def relabel(payload: bytes, pt_map: dict[int, int]) -> bytes | None:
    """``payload`` with every block PT mapped through ``pt_map`` (unmapped PTs kept): the
    subscriber may number Opus differently from the publisher. ``None`` when malformed."""
    blocks = parse_red(payload)
    if blocks is None:
        return None
    if all(pt_map.get(b.payload_type, b.payload_type) == b.payload_type for b in blocks):
        return payload
    out = bytearray(payload)
    pos = 0
    for b in blocks[:-1]:
        out[pos] = 0x80 | pt_map.get(b.payload_type, b.payload_type)
        pos += 4
    out[pos] = pt_map.get(blocks[-1].payload_type, blocks[-1].payload_type)
    return bytes(out)


def build_red(
    primary_pt: int, primary_data: bytes, redundant: tuple[tuple[int, int, bytes], ...] = ()
) -> bytes:
    """A RED payload: ``redundant`` = [(pt, ts offset, data)] oldest first, then the primary
    (for tests and for a future SFU-side RED encoder)."""
    head = bytearray()
    for pt, offset, data in redundant:
        if not 0 <= offset <= MAX_TS_OFFSET or len(data) > MAX_BLOCK_LEN:
            raise ValueError("RED block offset or length out of range")
        head.append(0x80 | pt)
        head += ((offset << 10) | len(data)).to_bytes(3, "big")
    head.append(primary_pt & 0x7F)
    return bytes(head) + b"".join(d for _, _, d in redundant) + primary_data
