"""Helpers for browser tests: join a room from a page, read getStats, sample remote pixels."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any


async def poll(
    check: Callable[[], Awaitable[Any]], within: float = 20.0, every: float = 0.25
) -> Any:
    """Await ``check()`` until it returns something truthy, and return it; fail after ``within``."""
    deadline = time.monotonic() + within
    last = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within} s (last: {last!r})")


# JS run in a page: load the SDK, mint a demo ticket, connect and enter a room.
JOIN_JS = """async ([user, room, enterOpts]) => {
  const sdk = await import('/sdk/ilvb.js');
  window.sdk = sdk;
  const res = await fetch('/demo/ticket', {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({user, room})});
  if (!res.ok) throw new Error('ticket: ' + res.status + ' ' + await res.text());
  const {ticket} = await res.json();
  window.c = await sdk.Client.connect(location.origin, ticket);
  window.c.on('error', (e) => console.error('ilvb client error', e.code, e.message));
  return await window.c.enter(room, enterOpts || {});
}"""


async def join(page: object, user: str, room: str, **enter_opts: object) -> dict:
    """In ``page`` (already on the server's origin): connect as ``user`` and enter ``room``."""
    return await page.evaluate(JOIN_JS, [user, room, enter_opts])  # type: ignore[attr-defined]


# Inbound RTP stats of the receive transport, by mid: framesDecoded, frameWidth/Height,
# totalSamplesReceived, totalAudioEnergy.
INBOUND_JS = """async () => {
  const out = {};
  if (!window.c.recvPc) return out;
  const stats = await window.c.recvPc.getStats();
  for (const r of stats.values()) {
    if (r.type !== 'inbound-rtp') continue;
    out[r.mid] = {kind: r.kind, framesDecoded: r.framesDecoded || 0, frameWidth: r.frameWidth || 0,
      frameHeight: r.frameHeight || 0, totalSamplesReceived: r.totalSamplesReceived || 0,
      totalAudioEnergy: r.totalAudioEnergy || 0, packetsReceived: r.packetsReceived || 0,
      codecId: r.codecId, mimeType: (stats.get(r.codecId) || {}).mimeType || null};
  }
  return out;
}"""

# A fingerprint of the remote video of [user, source]: mean brightness (RGB) and the luma of
# every 4th pixel in both directions, read back from a canvas the current frame is drawn into.
SAMPLE_JS = """([user, source]) => {
  const v = window.c.remoteVideo(user, source || 'camera');
  if (!v) return null;
  const img = v.captureFrame();
  if (!img) return null;
  const luma = [];
  let sum = 0;
  for (let y = 0; y < img.height; y += 4) for (let x = 0; x < img.width; x += 4) {
    const i = 4 * (y * img.width + x);
    const r = img.data[i], g = img.data[i + 1], b = img.data[i + 2];
    luma.push(Math.round(0.299 * r + 0.587 * g + 0.114 * b));
    sum += (r + g + b) / 3;
  }
  return {mean: sum / luma.length, luma, width: img.width, height: img.height, mid: v.mid};
}"""


async def inbound(page: Any) -> dict[str, dict[str, Any]]:
    """Inbound RTP stats of the page's receive transport, keyed by mid."""
    return await page.evaluate(INBOUND_JS)


async def sample(page: Any, user: str, source: str = "camera") -> dict[str, Any] | None:
    """Brightness fingerprint of the remote video of ``user`` in ``page``."""
    return await page.evaluate(SAMPLE_JS, [user, source])


def changed_fraction(a: dict[str, Any], b: dict[str, Any], threshold: int = 25) -> float:
    """Fraction of sampled pixels whose luma differs by more than ``threshold`` between two
    fingerprints of the same size."""
    pairs = list(zip(a["luma"], b["luma"], strict=True))
    return sum(1 for x, y in pairs if abs(x - y) > threshold) / len(pairs)


# Mean luma of the middle half of each block of an 8×4 grid over the remote video of `user`
# (the layout ilvb.client.sources.SyntheticVideoSource draws its frame tag in).
TAG_BLOCKS_JS = """([user]) => {
  const v = window.c.remoteVideo(user, 'camera');
  const img = v && v.captureFrame();
  if (!img) return null;
  const cols = 8, rows = 4, bw = Math.floor(img.width / cols), bh = Math.floor(img.height / rows);
  const out = [];
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) {
    let sum = 0, n = 0;
    for (let y = r * bh + (bh >> 2); y < (r + 1) * bh - (bh >> 2); y++)
      for (let x = c * bw + (bw >> 2); x < (c + 1) * bw - (bw >> 2); x++) {
        const i = 4 * (y * img.width + x);
        sum += 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2]; n++;
      }
    out.push(sum / n);
  }
  return {blocks: out, width: img.width, height: img.height};
}"""


async def read_tag(page: Any, user: str) -> tuple[int, int] | None:
    """(index, marker) of the SyntheticVideoSource frame shown for ``user``, or None."""
    from ilvb.client.sources import tag_check

    got = await page.evaluate(TAG_BLOCKS_JS, [user])
    if not got:
        return None
    word = 0
    for mean in got["blocks"]:
        word = (word << 1) | int(mean > 125)
    index, marker, check = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    return (index, marker) if tag_check(index, marker) == check else None
