"""Recording and bypass-live benchmarks (docs/recording.md), figures into docs/benchmarks.md.

    python3 bench/recording.py composite [--seconds 10] [--max-jobs 4] [--no-write]
    python3 bench/recording.py tracks [--subscribers 20] [--window 8] [--rounds 3] [--no-write]

Sections (each stored under its name in ``bench/recording_results.json`` and rendered into
``docs/benchmarks.md`` between ``<!-- recording:begin -->`` and ``<!-- recording:end -->``,
which ``bench/report.py`` keeps when it regenerates the page):

``composite`` — an in-process server (SFU worker in the server process) with two Python SDK
publishers (320×240, 15 fps VP8 with frame tags, Opus tones):

1. CPU of one composite (the recorder process and its ffmpeg encoder and sinks, from
   ``/proc``) at 640×480 and at 1280×720, 30 fps, libx264 ``veryfast`` one thread, over
   ``--seconds`` after a warm-up; also whether it kept real time (frames written ÷ due).
2. Concurrent 640×480 composites of the same room, N = 1, 2, … ``--max-jobs``: sustained at
   real time when every job wrote ≥ 97 % of its due frames and skipped none in the window.
3. HLS glass-to-glass: hls.js (``tests/live/hlsjs``) in Debian's Chromium plays the room's
   live HLS; the publisher's frame index (frame ``i`` left the source at ``start + i / fps``)
   is read off the playing picture; latency = read time − that time.

``tracks`` — the extra SFU CPU per forwarded packet of a per-track recording. One SFU worker
process (``create_media_plane``, ``workers=1``) forwards a lite publisher (640×480 VP8 ~30 fps +
Opus, ``bench.liteclient``, no encoding in the loop) to N non-decoding subscribers. Windows of
``--window`` seconds alternate *off* (no recording) and *on* (a ``tracks`` recording: two plain
taps to the recorder process), ``--rounds`` times each. Per window: the worker's CPU time
(``time.process_time`` in the worker) ÷ packets it forwarded to subscribers (µs/pkt), and the
recorder process's CPU ÷ packets it was sent. The extra per forwarded packet is the difference
of the medians (on − off); the extra per *tapped* packet is the worker CPU difference ÷ the
packets the taps sent.

The machine is shared: every figure is stored with the 1-minute load average at its start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "recording_results.json"
MARKDOWN = ROOT / "docs" / "benchmarks.md"
BEGIN, END = "<!-- recording:begin -->", "<!-- recording:end -->"
CHROMIUM = "/usr/bin/chromium"


def splice(text: str, section: str) -> str:
    """``text`` with its recording section replaced by ``section`` (appended if absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        return text[:start] + section + text[end + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def existing_section(text: str) -> str | None:
    """The recording section of ``text`` (markers included), if any."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start : end + len(END)] if start >= 0 and end > start else None


def load() -> float:
    """The 1-minute load average."""
    return round(os.getloadavg()[0], 2)


# -- composite ----------------------------------------------------------------------------------


async def _publishers(server: Any) -> list[Any]:
    from ilvb.client import SyntheticVideoSource, ToneSource

    out = []
    for user, marker, hz in (("alice", 1, 440.0), ("bob", 2, 1000.0)):
        client = await server.client(user)
        await client.enter("bench", receive=False)
        src = SyntheticVideoSource(marker=marker, fps=15, width=320, height=240)
        await client.publish_video(src)
        await client.publish_audio(ToneSource(hz, amplitude=0.3))
        out.append((client, src))
    return out


async def _window(jobs: list[Any], seconds: float) -> list[dict[str, float]]:
    """Per job over ``seconds``: cores, frames written ÷ due, frames skipped."""
    start = [(j.stats.cpu_s, j.stats.frames, j.stats.skipped_frames) for j in jobs]
    t0 = time.monotonic()
    await asyncio.sleep(seconds)
    wall = time.monotonic() - t0
    out = []
    for job, (cpu, frames, skipped) in zip(jobs, start, strict=True):
        written = job.stats.frames - frames
        out.append(
            {
                "cores": round((job.stats.cpu_s - cpu) / wall, 3),
                # CPU per second of output: what the job needs to keep real time
                "cores_at_realtime": round((job.stats.cpu_s - cpu) / max(written / 30, 1e-3), 3),
                "realtime": round((job.stats.frames - frames) / (wall * 30), 3),
                "skipped": job.stats.skipped_frames - skipped,
            }
        )
    return out


async def _wait_decoding(job: Any, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while len([n for n in job.stats.media_frames.values() if n > 10]) < 4:
        if time.monotonic() > deadline or not job.running:
            raise RuntimeError(f"the composite did not decode: {job.stats}")
        await asyncio.sleep(0.1)


async def composite(seconds: float, max_jobs: int, parts: set[str]) -> dict[str, Any]:
    """The composite figures (see the module docstring)."""
    from ilvb.live import JobOutputs
    from tests.integration.harness import LiveServer

    result: dict[str, Any] = {"load_at_start": load(), "seconds": seconds}
    live = {"cpu_budget_cores": 64.0, "max_jobs": 64}
    async with LiveServer(live=live) as server:
        clients = await _publishers(server)
        runner = server.app.state.composites
        per_res = {}
        for res in ("640x480", "1280x720") if "cpu" in parts else ():
            job = await runner.start_job(server.app_id, "bench", JobOutputs(), resolution=res)
            await _wait_decoding(job)
            await asyncio.sleep(2)  # warm-up
            (window,) = await _window([job], seconds)
            await job.stop()
            per_res[res] = {**window, "load": load()}
            print(f"composite {res}: {window}", flush=True)
        result["per_resolution"] = per_res
        concurrent = []
        sustained = 0
        for n in range(1, max_jobs + 1 if "concurrent" in parts else 1):
            at = load()
            jobs = [
                await runner.start_job(server.app_id, "bench", JobOutputs(), resolution="640x480")
                for _ in range(n)
            ]
            for job in jobs:
                await _wait_decoding(job)
            await asyncio.sleep(2)
            windows = await _window(jobs, seconds)
            await asyncio.gather(*(j.stop() for j in jobs))
            ok = all(w["realtime"] >= 0.97 and w["skipped"] == 0 for w in windows)
            total = round(sum(w["cores"] for w in windows), 3)
            concurrent.append({"jobs": n, "ok": ok, "cores": total, "load": at,
                               "min_realtime": min(w["realtime"] for w in windows)})  # fmt: skip
            print(f"concurrent {n}: ok={ok} cores={total} windows={windows}", flush=True)
            if not ok:
                break
            sustained = n
        result["concurrent"] = concurrent
        result["sustained_640x480"] = sustained
        if "hls" in parts:
            result["hls_latency"] = await _hls_latency(server, clients[0][1], seconds)
    return result


async def _hls_latency(server: Any, source: Any, seconds: float) -> dict[str, Any]:
    import httpx
    from playwright.async_api import async_playwright

    from ilvb.auth.tickets import sign_server_token
    from tests.live.hls_page import PlayerOrigin, read_tag

    at = load()
    base = server.url.replace("ws://", "http://").removesuffix("/ws")
    headers = {"Authorization": f"Bearer {sign_server_token(server.app_id, server.secret)}"}
    # One publisher only: its picture fills the frame, so the tag is read from the whole frame.
    await server.clients[1].unpublish("camera")
    samples: list[float] = []
    misses = 0
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
        live = f"/v1/apps/{server.app_id}/rooms/bench/live"
        reply = await http.post(live, json={"hls": True})
        reply.raise_for_status()
        url = reply.json()["hls_url"]
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
            )
            with PlayerOrigin() as origin:
                page = await browser.new_page()
                await page.goto(origin.url)
                await page.evaluate("(u) => window.play(u)", url)
                deadline = time.monotonic() + 30
                while time.monotonic() < deadline:  # until it plays
                    if (await page.evaluate("window.state()"))["frames"] > 0:
                        break
                    await asyncio.sleep(0.1)
                await asyncio.sleep(3)  # settle at the live edge
                end = time.monotonic() + seconds
                while time.monotonic() < end:
                    tag = await read_tag(page)
                    now = time.monotonic()
                    if tag is not None and tag[1] == source.marker and source._start is not None:
                        samples.append(now - (source._start + tag[0] / source.fps))
                    elif tag is None:
                        misses += 1
                    await asyncio.sleep(0.2)
            await browser.close()
        await http.delete(live)
    if not samples:
        return {"load": at, "samples": 0, "unreadable": misses}
    samples.sort()
    return {
        "load": at,
        "samples": len(samples),
        "p50_s": round(statistics.median(samples), 2),
        "p95_s": round(samples[int(0.95 * (len(samples) - 1))], 2),
    }


# -- report -------------------------------------------------------------------------------------


def render(results: dict[str, Any]) -> str:
    """The markdown section from every stored section's results."""
    lines = [BEGIN, "## Recording and bypass live (`bench/recording.py`)", ""]
    comp = results.get("composite")
    if comp:
        lines += [
            f"### Room composite ({comp['revision']}, {comp['date']}; load average "
            f"{comp['load_at_start']} at the start on this 2-core machine shared with other work)",
            "",
            "Two Python SDK publishers (320×240, 15 fps) in one room; the recorder process "
            "decodes both, mixes the audio, lays out the grid and encodes H.264 (libx264 "
            "veryfast, 1 thread) + AAC at 30 fps. CPU = the recorder process + its ffmpeg "
            f"processes, over {comp['seconds']} s.",
            "",
            "| composite | CPU per output second (cores at real time) | CPU per wall second "
            "| frames written ÷ due | skipped frames | load |",
            "|---|---|---|---|---|---|",
        ]
        for res, w in comp["per_resolution"].items():
            lines.append(
                f"| {res} | **{w.get('cores_at_realtime')}** | {w['cores']} | {w['realtime']} "
                f"| {w['skipped']} | {w['load']} |"
            )
        lines += [
            "",
            "| concurrent 640×480 composites | real time | total CPU (cores) "
            "| worst written ÷ due | load |",
            "|---|---|---|---|---|",
        ]
        for c in comp["concurrent"]:
            lines.append(f"| {c['jobs']} | {'yes' if c['ok'] else 'no'} | {c['cores']} | "
                         f"{c['min_realtime']} | {c['load']} |")  # fmt: skip
        lat = comp["hls_latency"]
        per = comp["per_resolution"].get("640x480", {}).get("cores_at_realtime")
        fits = int(2 * 0.8 / per) if per else "?"
        lines += [
            "",
            f"Sustained at real time: **{comp['sustained_640x480']}** concurrent 640×480 "
            "composites measured at the load shown (other work held most of both cores). From "
            f"the CPU per output second, a quiet 2-core node fits {fits} within the default "
            "budget (`live.cpu_budget_cores` = 0.8 × cores); admission counts each job's "
            "measured CPU per output second.",
            "",
            f"HLS glass-to-glass (hls.js in Chromium, 1 s segments, `liveSyncDurationCount` 2): "
            f"p50 **{lat.get('p50_s')} s**, p95 {lat.get('p95_s')} s over {lat.get('samples')} "
            f"readings (load {lat.get('load')}; target ≤ 5 s).",
        ]
    tracks = results.get("tracks")
    if tracks and isinstance(tracks, dict) and tracks.get("markdown"):
        lines += ["", str(tracks["markdown"])]
    lines.append(END)
    return "\n".join(lines)


def store(name: str, figures: dict[str, Any]) -> None:
    """Keep ``figures`` under ``name`` and re-render the section in docs/benchmarks.md."""
    import datetime

    rev = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    results[name] = {**figures, "revision": rev, "date": datetime.date.today().isoformat()}
    RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    text = MARKDOWN.read_text() if MARKDOWN.exists() else ""
    MARKDOWN.write_text(splice(text, render(results)))


class BenchTaps:
    """What :class:`ilvb.recording.tracks.TrackJob` needs of a room, on a bare router."""

    def __init__(self, router: Any, tracks: list[Any]) -> None:
        self.router = router
        self._tracks = tracks
        self.closed = False
        self.app_id, self.room, self.room_key, self.kind = "bench", "bench", "bench", "room"

    def tracks(self) -> list[Any]:
        return list(self._tracks)

    async def open(self, ref: Any, addr: tuple[str, int]) -> Any:
        import secrets

        tap_id = "tap_" + secrets.token_hex(4)
        return await self.router.open_tap(tap_id, ref.member_id, ref.source, addr)

    async def close(self, tap_id: str) -> None:
        await self.router.close_tap(tap_id)

    async def live(self) -> set[str]:
        return set(await self.router.live_taps())

    async def request_keyframe(self, tap_id: str) -> None:
        await self.router.request_keyframe(tap_id)

    def on_change(self, listener: Any) -> Any:
        return lambda: None


async def tracks_section(args: argparse.Namespace) -> dict[str, Any]:
    """The per-track recording's extra CPU (see the module docstring)."""
    from bench.liteclient import LitePeer, LitePublisher, LiteSubscriber, use_only_address
    from bench.litemedia import SendLog, encode_clip
    from bench.litesdp import build_publish_offer, build_receive_answer, parse_remote
    from ilvb.config import MediaSettings
    from ilvb.recording.taps import TrackRef
    from ilvb.recording.tracks import TrackJob, process_cpu_seconds
    from ilvb.sfu.api import Subscription
    from ilvb.sfu.plane import create_media_plane

    use_only_address("127.0.0.1")
    clip = encode_clip()
    plane: Any = create_media_plane(MediaSettings(workers=1))
    await plane.start()
    router = await plane.open_router("bench", lambda event: None)
    log = SendLog()
    ppeer = LitePeer(controlling=True)
    local = await ppeer.gather("actpass")
    pub = LitePublisher(ppeer, clip, log)
    answer = await router.negotiate_send(
        "pub",
        build_publish_offer(local, pub.audio_ssrc, pub.video_ssrc),
        {"0": "microphone", "1": "camera"},
    )
    remote = parse_remote(answer.sdp)
    pub.configure(remote)
    await ppeer.connect(remote, dtls_client=(remote.setup == "passive"))
    pub_task = asyncio.create_task(pub.run(100_000))
    peers = [ppeer]
    for i in range(args.subscribers):
        offer = await router.offer_receive(f"s{i}", 1, 1)
        rem = parse_remote(offer)
        peer = LitePeer(controlling=rem.ice_lite)
        peers.append(peer)
        loc = await peer.gather("active")
        LiteSubscriber(peer)
        await router.accept_receive_answer(f"s{i}", build_receive_answer(loc, offer))
        await peer.connect(rem, dtls_client=True)
        await router.set_subscription(
            f"s{i}", Subscription(frozenset({"pub"}), (("pub", "camera"),))
        )
    await asyncio.sleep(3.0)  # warm-up: keyframes, slot assignment

    rows: list[dict[str, Any]] = []
    out_dir = Path(tempfile.mkdtemp(prefix="ilvb-bench-rec-"))
    refs = [TrackRef("pub", "microphone"), TrackRef("pub", "camera")]
    for rnd in range(args.rounds):
        for mode in ("off", "on"):
            job: TrackJob | None = None
            if mode == "on":
                job = TrackJob(BenchTaps(router, refs), out_dir / f"r{rnd}")  # type: ignore[arg-type]
                await job.start()
                await asyncio.sleep(1.0)  # the recorder's keyframe and first flush
            s0 = await router.stats()
            c0 = s0["worker"]["cpu_s"]
            r0 = process_cpu_seconds(job.pid) if job and job.pid else None
            t0 = time.monotonic()
            await asyncio.sleep(args.window)
            t1 = time.monotonic()
            r1 = process_cpu_seconds(job.pid) if job and job.pid else None
            s1 = await router.stats()
            c1 = s1["worker"]["cpu_s"]
            fwd = s1["packets_out"] - s0["packets_out"]
            pin = s1["packets_in"] - s0["packets_in"]
            row = {
                "mode": mode,
                "seconds": round(t1 - t0, 2),
                "packets_in": pin,
                "packets_forwarded": fwd,
                "worker_cpu_s": round(c1 - c0, 4),
                "worker_us_per_fwd_pkt": round(1e6 * (c1 - c0) / fwd, 3) if fwd else None,
                "recorder_us_per_pkt": round(1e6 * (r1 - r0) / pin, 2)
                if r0 is not None and r1 is not None and pin
                else None,
                "load_1m": round(os.getloadavg()[0], 2),
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
            if job is not None:
                await job.stop()
    pub_task.cancel()
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    await router.close()
    await plane.close()

    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["mode"] == mode and r[key] is not None)

    off, on = med("off", "worker_us_per_fwd_pkt"), med("on", "worker_us_per_fwd_pkt")
    cpu_off = med("off", "worker_cpu_s")
    cpu_on = med("on", "worker_cpu_s")
    pin_on = med("on", "packets_in")
    return {
        "subscribers": args.subscribers,
        "window_s": args.window,
        "rounds": args.rounds,
        "worker_us_per_fwd_pkt_off": off,
        "worker_us_per_fwd_pkt_on": on,
        "extra_us_per_fwd_pkt": round(on - off, 3),
        "extra_us_per_tapped_pkt": round(1e6 * (cpu_on - cpu_off) / pin_on, 2) if pin_on else None,
        "recorder_us_per_pkt": med("on", "recorder_us_per_pkt"),
        "publisher_pkts_per_s": round(pin_on / args.window, 1),
        "load_1m": [r["load_1m"] for r in rows],
        "rows": rows,
    }


def tracks_markdown(result: dict[str, Any]) -> str:
    """The per-track part of the recording section."""
    r = result

    def spread(mode: str) -> str:
        values = [w["worker_us_per_fwd_pkt"] for w in r["rows"] if w["mode"] == mode]
        return f"{min(values)}–{max(values)}"

    return f"""### Per-track recording (`bench/recording.py tracks`)

One SFU worker process forwards a lite publisher (640×480 VP8 ~30 fps + Opus,
{r["publisher_pkts_per_s"]} packets/s) to {r["subscribers"]} non-decoding subscribers; windows of
{r["window_s"]} s alternate without and with a `tracks` recording (two plain taps to the recorder
process), {r["rounds"]} rounds each, medians shown. Machine: 2 cores shared with other work
(1-minute load during the windows: {min(r["load_1m"])}–{max(r["load_1m"])}).

| | SFU worker µs per forwarded packet | recorder process µs per recorded packet |
|---|---|---|
| no recording | {r["worker_us_per_fwd_pkt_off"]} | – |
| `tracks` recording | {r["worker_us_per_fwd_pkt_on"]} | {r["recorder_us_per_pkt"]} |

Extra SFU CPU of the recording: **{r["extra_us_per_fwd_pkt"]} µs per forwarded packet**
(difference of the medians; the median windows' CPU difference ÷ the packets sent to the
recorder gives {r["extra_us_per_tapped_pkt"]} µs per tapped packet, but there is one tapped packet
per {r["subscribers"]} forwarded, so window-to-window noise is multiplied that much there).
The windows themselves ranged {spread("off")} µs/pkt without and {spread("on")} with the
recording, so on this loaded machine the tap's cost (one unencrypted `sendto` per publisher
packet, nothing decoded) is below what the measurement resolves; the recorder process's own
CPU (depacketizing and muxing) is the second column."""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("section", choices=["composite", "tracks"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--max-jobs", type=int, default=4)
    p.add_argument("--parts", default="cpu,concurrent,hls", help="a subset of cpu,concurrent,hls")
    p.add_argument("--subscribers", type=int, default=20)
    p.add_argument("--window", type=float, default=8.0)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    if args.section == "tracks":
        figures = asyncio.run(tracks_section(args))
        figures["markdown"] = tracks_markdown(figures)
    else:
        parts = set(args.parts.split(","))
        figures = asyncio.run(composite(args.seconds, args.max_jobs, parts))
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        store(args.section, figures)


if __name__ == "__main__":
    main()
