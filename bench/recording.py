"""Recording and bypass-live benchmarks (docs/recording.md), figures into docs/benchmarks.md.

    python3 bench/recording.py composite [--seconds 10] [--max-jobs 4] [--no-write]

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


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("section", choices=["composite"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--max-jobs", type=int, default=4)
    p.add_argument("--parts", default="cpu,concurrent,hls", help="a subset of cpu,concurrent,hls")
    p.add_argument("--no-write", action="store_true")
    args = p.parse_args()
    parts = set(args.parts.split(","))
    figures = asyncio.run(composite(args.seconds, args.max_jobs, parts))
    print(json.dumps(figures, indent=1))
    if not args.no_write:
        store(args.section, figures)


if __name__ == "__main__":
    main()
