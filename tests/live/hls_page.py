"""A test page that plays an HLS URL with hls.js (npm, pinned in tests/live/hlsjs/) in
Chromium, and reads the frame tag off the playing picture.

:class:`PlayerOrigin` serves the page and ``hls.min.js`` from ``node_modules`` (installed by
``scripts/test.sh`` with ``npm ci``) on a loopback port; the HLS itself comes from ilvb (its
responses allow any origin).
"""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from typing import Any

from ilvb.client.sources import tag_check

HLSJS = Path(__file__).resolve().parent / "hlsjs/node_modules/hls.js/dist/hls.min.js"

PAGE = b"""<!doctype html><html><body>
<video id="v" muted autoplay playsinline width="640" height="480"></video>
<script src="/hls.min.js"></script>
<script>
window.errors = [];
window.play = (url) => {
  const v = document.getElementById('v');
  const hls = new Hls({liveSyncDurationCount: 2, lowLatencyMode: false});
  hls.on(Hls.Events.ERROR, (_, d) => {
    if (d.fatal) window.errors.push(d.type + ':' + d.details);
  });
  hls.loadSource(url);
  hls.attachMedia(v);
  v.play().catch((e) => window.errors.push(String(e)));
  window.hls = hls;
};
// Mean luma of the middle half of each of the 8 x 4 tag blocks of the shown picture.
window.tagBlocks = () => {
  const v = document.getElementById('v');
  if (!v.videoWidth) return null;
  const c = document.createElement('canvas');
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const img = g.getImageData(0, 0, c.width, c.height);
  const bw = Math.floor(c.width / 8), bh = Math.floor(c.height / 4), out = [];
  for (let row = 0; row < 4; row++) for (let col = 0; col < 8; col++) {
    let sum = 0, n = 0;
    for (let y = row * bh + (bh >> 2); y < (row + 1) * bh - (bh >> 2); y += 2)
      for (let x = col * bw + (bw >> 2); x < (col + 1) * bw - (bw >> 2); x += 2) {
        const i = (y * c.width + x) * 4;
        sum += 0.299 * img.data[i] + 0.587 * img.data[i + 1] + 0.114 * img.data[i + 2]; n++;
      }
    out.push(sum / n);
  }
  return out;
};
window.state = () => {
  const v = document.getElementById('v');
  const q = v.getVideoPlaybackQuality ? v.getVideoPlaybackQuality() : {totalVideoFrames: 0};
  return {time: v.currentTime, frames: q.totalVideoFrames, width: v.videoWidth,
          paused: v.paused, errors: window.errors};
};
</script></body></html>"""


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        if self.path.split("?")[0] == "/hls.min.js":
            body, kind = HLSJS.read_bytes(), "text/javascript"
        elif self.path.split("?")[0] == "/":
            body, kind = PAGE, "text/html"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("content-type", kind)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        return None


class PlayerOrigin:
    """``with PlayerOrigin() as origin``: the player page at ``origin.url``."""

    def __enter__(self) -> PlayerOrigin:
        assert HLSJS.is_file(), f"{HLSJS} missing: run npm ci --prefix tests/live/hlsjs"
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        serve = functools.partial(self.server.serve_forever, 0.1)
        threading.Thread(target=serve, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


async def read_tag(page: Any) -> tuple[int, int] | None:
    """(index, marker) of the frame tag the player shows now, or None."""
    blocks = await page.evaluate("window.tagBlocks()")
    if not blocks:
        return None
    word = 0
    for mean in blocks:
        word = (word << 1) | int(mean > 125)
    index, marker, check = word >> 16, (word >> 8) & 0xFF, word & 0xFF
    return (index, marker) if tag_check(index, marker) == check else None
