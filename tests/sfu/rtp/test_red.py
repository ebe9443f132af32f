"""RFC 2198 RED payloads: parsed block by block, primary unpacked, PTs re-labelled, malformed
input refused."""

from __future__ import annotations

import pytest

from ilvb.sfu.rtp.red import MAX_BLOCKS, build_red, parse_red, primary, relabel

OPUS = 111


def test_chromium_style_red_with_one_redundant_frame() -> None:
    payload = build_red(OPUS, b"frame-n", ((OPUS, 960, b"frame-n-1"),))
    # header: F=1 PT=111, offset 960 (14 bits), length 9 (10 bits); then F=0 PT=111
    assert payload[:5] == bytes([0x80 | OPUS]) + ((960 << 10) | 9).to_bytes(3, "big") + bytes(
        [OPUS]
    )
    blocks = parse_red(payload)
    assert blocks is not None and [(b.payload_type, b.ts_offset) for b in blocks] == [
        (OPUS, 960),
        (OPUS, 0),
    ]
    assert payload[blocks[0].start : blocks[0].end] == b"frame-n-1"
    assert primary(payload) == (OPUS, b"frame-n")


def test_primary_only_red_and_two_redundant_blocks() -> None:
    assert primary(bytes([OPUS]) + b"x") == (OPUS, b"x")
    p = build_red(OPUS, b"c", ((OPUS, 1920, b"a"), (OPUS, 960, b"bb")))
    blocks = parse_red(p)
    assert blocks is not None and [p[b.start : b.end] for b in blocks] == [b"a", b"bb", b"c"]


def test_relabel_maps_every_block_pt_and_keeps_the_data() -> None:
    p = build_red(OPUS, b"now", ((OPUS, 960, b"before"),))
    out = relabel(p, {OPUS: 109})
    assert out is not None and primary(out) == (109, b"now")
    blocks = parse_red(out)
    assert blocks is not None and blocks[0].payload_type == 109
    assert relabel(p, {OPUS: OPUS}) is p  # nothing to change: no copy


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        bytes([0x80 | OPUS, 0, 0]),  # truncated block header
        bytes([0x80 | OPUS]) + ((960 << 10) | 50).to_bytes(3, "big") + bytes([OPUS]) + b"short",
        bytes([0x80 | OPUS]) + ((960 << 10) | 1).to_bytes(3, "big"),  # no primary header
        (bytes([0x80 | OPUS]) + (1).to_bytes(3, "big")) * (MAX_BLOCKS + 1) + bytes([OPUS]),
    ],
)
def test_malformed_red_is_refused(payload: bytes) -> None:
    assert parse_red(payload) is None and primary(payload) is None
    assert relabel(payload, {OPUS: 1}) is None


def test_build_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError):
        build_red(OPUS, b"", ((OPUS, 1 << 14, b""),))
    with pytest.raises(ValueError):
        build_red(OPUS, b"", ((OPUS, 0, b"x" * 1024),))
