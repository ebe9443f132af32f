"""Glass-to-glass latency between two Chromium pages through ilvb (loopback).

    python bench/glass.py --seconds 15 [--json out.json]

Starts ``ilvb serve --demo --port 0 --workers 1`` (stopped by PID at the end) and one headless
Chromium (Playwright, Debian's ``/usr/bin/chromium``) with two pages from the server's origin
using the Web SDK (``/sdk/ilvb.js``):

- the sender draws the current time (ms since a base shared by both pages, 24 bits + an 8-bit
  checksum) as a grid of black/white blocks on a 640×480 canvas, captures it with
  ``canvas.captureStream(0)`` + ``requestFrame()`` right after each draw (30 fps), and publishes
  that track as its camera;
- the receiver views the sender, and for every presented frame (``requestVideoFrameCallback``)
  draws the video into a canvas, reads the blocks back and records
  ``expectedDisplayTime − drawn time`` (both pages: ``performance.timeOrigin + now``).

Frames whose checksum fails are counted and dropped. Prints p50 / p95 and ends with one line
``glass_p50_ms=.. glass_p95_ms=.. frames=..``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import percentile, stop_process  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--autoplay-policy=no-user-gesture-required",
    "--allow-loopback-in-peer-connection",
    "--disable-background-timer-throttling",
    "--disable-renderer-backgrounding",
    "--disable-backgrounding-occluded-windows",
    # The pages are served by Playwright's router (no network address space): let them reach
    # the server on 127.0.0.1.
    "--disable-features=LocalNetworkAccessChecks,PrivateNetworkAccessRespectPreflightResults",
]
LISTENING = "ilvb listening on "
ROOM = "glass"

# 8 × 4 blocks of 80 × 120 px: 24 bits of time, 8 bits of checksum.
COMMON_JS = """
const W = 640, H = 480, COLS = 8, ROWS = 4, BW = W / COLS, BH = H / ROWS;
const params = new URLSearchParams(location.search);
const BASE = Number(params.get("base"));
const nowMs = () => performance.timeOrigin + performance.now();
const checksum = (v) => ((v & 0xff) + ((v >> 8) & 0xff) + ((v >> 16) & 0xff)) & 0xff ^ 0xa5;
async function join(user) {
  const { Client } = await import("/sdk/ilvb.js");
  const r = await fetch("/demo/ticket", { method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ user, room: "__ROOM__" }) });
  const { ticket } = await r.json();
  const client = await Client.connect(location.origin, ticket);
  await client.enter("__ROOM__");
  return client;
}
""".replace("__ROOM__", ROOM)

SENDER_HTML = """<!doctype html><meta charset="utf-8"><title>glass sender</title>
<canvas id="c" width="640" height="480"></canvas>
<script type="module">
__COMMON__
const canvas = document.getElementById("c");
const ctx = canvas.getContext("2d");
const stream = canvas.captureStream(0);
const track = stream.getVideoTracks()[0];
window.drawn = 0;
function draw() {
  const t = nowMs();
  const v = Math.floor(t - BASE) & 0xffffff;
  const bits = v | (checksum(v) << 24);
  for (let i = 0; i < 32; i++) {
    ctx.fillStyle = ((bits >>> i) & 1) ? "#fff" : "#000";
    ctx.fillRect((i % COLS) * BW, Math.floor(i / COLS) * BH, BW, BH);
  }
  track.requestFrame();
  window.drawn++;
}
draw();
setInterval(draw, 1000 / Number(params.get("fps") || 30));
const client = await join("sender");
window.client = client;
await client.publish("camera", { track, codec: "VP8" });
if (params.get("audio")) {
  // A continuous 440 Hz tone (never silent, so Opus never switches to DTX).
  const ac = new AudioContext();
  const osc = ac.createOscillator();
  const dest = ac.createMediaStreamDestination();
  osc.frequency.value = 440;
  osc.connect(dest);
  osc.start();
  await client.publish("microphone", { track: dest.stream.getAudioTracks()[0] });
}
window.ready = true;
</script>"""

RECEIVER_HTML = """<!doctype html><meta charset="utf-8"><title>glass receiver</title>
<canvas id="c" width="640" height="480"></canvas>
<script type="module">
__COMMON__
const canvas = document.getElementById("c");
const ctx = canvas.getContext("2d", { willReadFrequently: true });
window.samples = []; window.bad = 0; window.frames = 0; window.shownAt = [];
function decode() {
  const img = ctx.getImageData(0, 0, W, H).data;
  let bits = 0;
  for (let i = 0; i < 32; i++) {
    const cx = (i % COLS) * BW + BW / 2, cy = Math.floor(i / COLS) * BH + BH / 2;
    let sum = 0, n = 0;
    for (let y = cy - 10; y < cy + 10; y += 4) for (let x = cx - 10; x < cx + 10; x += 4) {
      const o = (y * W + x) * 4; sum += img[o] + img[o + 1] + img[o + 2]; n += 3;
    }
    if (sum / n > 128) bits |= (1 << i);
  }
  const v = bits & 0xffffff;
  return (((bits >>> 24) & 0xff) === checksum(v)) ? v : null;
}
function watch(video) {
  const onFrame = (now, meta) => {
    ctx.drawImage(video, 0, 0, W, H);
    const v = decode();
    window.frames++;
    window.shownAt.push(performance.timeOrigin + (meta.expectedDisplayTime || now));
    if (v === null) { window.bad++; }
    else {
      const shown = performance.timeOrigin + (meta.expectedDisplayTime || now);
      let drawnAt = BASE + v;
      // 24-bit wrap (every ~4.6 h): pick the candidate closest to now.
      while (drawnAt + 0x800000 < shown) drawnAt += 0x1000000;
      window.samples.push(shown - drawnAt);
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}
const client = await join("receiver");
window.client = client;
client.on("video.added", ({ userId, video }) => {
  if (userId !== "sender") return;
  video.element.muted = true;
  document.body.append(video.element);
  video.element.play().catch(() => {});
  watch(video.element);
});
const want = async (m) => {
  if (m.user_id === "sender" && m.sending && m.sending.video) await client.requestViews(["sender"]);
};
client.on("member.state", want);
for (const m of await client.allMembers()) await want(m);
window.ready = true;
</script>"""


def start_server(
    data_dir: Path, env: dict[str, str] | None = None, src: Path = ROOT
) -> tuple[subprocess.Popen[str], str]:
    """``ilvb serve --demo`` on an ephemeral port (``env`` adds ``ILVB_…`` settings) from the
    source tree ``src``; returns the process and its origin."""
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ilvb",
            "serve",
            "--demo",
            "--port",
            "0",
            "--workers",
            "1",
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=src,
        env={**os.environ, "PYTHONPATH": str(src), **(env or {})},
    )
    deadline = time.monotonic() + 60
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith(LISTENING):
            return proc, line[len(LISTENING) :].strip()
    stop_process(proc)
    raise RuntimeError("ilvb serve did not print its address")


def set_web_camera_fps(origin: str, data_dir: Path, fps: int) -> None:
    """Give the demo app's web members a camera profile of ``fps`` frames a second (the
    ``realtime_call`` template with ``video.fps`` overridden, through the quality REST API with
    the admin key the server wrote into ``data_dir``), as an app that wants a 30 fps camera
    does: the Web SDK caps what it sends at the profile's ``video.fps`` (15 in the template)."""
    import urllib.request

    key = (data_dir / "admin-key").read_text().strip()

    def call(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            origin + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"x-admin-key": key, "content-type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    app_id = next(a["app_id"] for a in call("GET", "/v1/apps")["apps"] if a["name"] == "demo")
    body = {"template": "realtime_call", "video": {"fps": fps}}
    call("PUT", f"/v1/apps/{app_id}/quality/web/*", body)


async def measure(origin: str, seconds: float) -> dict[str, Any]:
    """Run the two pages and collect the receiver's samples."""
    from playwright.async_api import Route, async_playwright

    base = int(time.time() * 1000) - 1000
    pages_html = {
        "sender": SENDER_HTML.replace("__COMMON__", COMMON_JS),
        "receiver": RECEIVER_HTML.replace("__COMMON__", COMMON_JS),
    }

    async def serve_page(route: Route) -> None:
        name = route.request.url.split("/glass/", 1)[1].split(".html", 1)[0]
        await route.fulfill(status=200, content_type="text/html", body=pages_html[name])

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            ctx = await browser.new_context(viewport={"width": 800, "height": 600})
            await ctx.route(f"{origin}/glass/*", serve_page)
            errors: list[str] = []
            sender = await ctx.new_page()
            sender.on("pageerror", lambda e: errors.append(f"sender: {e}"))
            sender.on("console", lambda m: print("sender:", m.text, file=sys.stderr))
            await sender.goto(f"{origin}/glass/sender.html?base={base}")
            await sender.wait_for_function("window.ready === true", timeout=30_000)
            receiver = await ctx.new_page()
            receiver.on("pageerror", lambda e: errors.append(f"receiver: {e}"))
            receiver.on("console", lambda m: print("receiver:", m.text, file=sys.stderr))
            await receiver.goto(f"{origin}/glass/receiver.html?base={base}")
            await receiver.wait_for_function("window.ready === true", timeout=30_000)
            await receiver.wait_for_function("window.samples.length > 0", timeout=30_000)
            await asyncio.sleep(2.0)  # warm-up: encoder ramp-up and first keyframe
            await receiver.evaluate("window.samples = []; window.bad = 0; window.frames = 0")
            await asyncio.sleep(seconds)
            res = await receiver.evaluate(
                "({samples: window.samples, bad: window.bad, frames: window.frames})"
            )
            drawn = await sender.evaluate("window.drawn")
        finally:
            await browser.close()
    samples = [float(x) for x in res["samples"]]
    return {
        "frames": len(samples),
        "frames_presented": res["frames"],
        "frames_undecodable": res["bad"],
        "frames_drawn_total": drawn,
        "seconds": seconds,
        "fps_received": len(samples) / seconds,
        "p50_ms": percentile(samples, 50),
        "p95_ms": percentile(samples, 95),
        "min_ms": min(samples) if samples else float("nan"),
        "max_ms": max(samples) if samples else float("nan"),
        "page_errors": errors[:5],
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=15.0)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    from bench.fanout import bench_lock

    with bench_lock(), tempfile.TemporaryDirectory(prefix="ilvb-glass-") as tmp:
        server, origin = start_server(Path(tmp))
        try:
            result = asyncio.run(measure(origin, args.seconds))
        finally:
            stop_process(server)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print(
        f"frames {result['frames']} ({result['fps_received']:.1f} fps), undecodable "
        f"{result['frames_undecodable']}, min {result['min_ms']:.1f} ms, max "
        f"{result['max_ms']:.1f} ms"
    )
    print(
        f"glass_p50_ms={result['p50_ms']:.1f} glass_p95_ms={result['p95_ms']:.1f} "
        f"frames={result['frames']}"
    )
    return 0 if result["frames"] > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
