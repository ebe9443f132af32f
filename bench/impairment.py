"""Call quality through an impaired network: Chromium → SFU → Chromium, both legs through the relay.

    python bench/impairment.py [--seconds 20] [--conditions clean,loss30,...] [--json out.json]
                               [--markdown docs/benchmarks.md] [--plot docs/impairment.png]

Starts ``ilvb serve --demo --workers 1`` on a fixed UDP port with ``media.announced_port`` set
to the port of an :class:`bench.impair.ImpairmentRelay` in this process, so every ICE candidate
the SFU announces is the relay: both pages' send and receive transports (publisher → SFU and
SFU → viewer) cross it, each flow impaired the same way in both directions. For each condition
a fresh Chromium context opens the two pages of ``bench/glass.py`` (the sender draws the time
into its 640×480 30 fps canvas, the demo app's camera profile set to ``--camera-fps`` (30), and
also sends a continuous 440 Hz tone; the receiver views it),
waits for the first decoded frame plus ``--warmup`` seconds, then measures ``--seconds`` at the
viewer:

- **fps shown**: frames presented (``requestVideoFrameCallback``) per second of the window;
- **frozen**: the time spent in freezes ÷ window, a freeze being a gap between two presented
  frames (window edges included) longer than max(3 × the median gap, median + 150 ms) —
  Chromium's ``totalFreezesDuration`` rule, measured on shown frames because Chromium counts
  nothing while it decodes nothing (its own figure is in the JSON); **longest freeze**: the
  longest such gap;
- **audio concealed**: ``concealedSamples`` ÷ ``totalSamplesReceived`` deltas (NetEq);
- **glass-to-glass p50 / p95**: presentation time − the time drawn into the frame (nearest-rank
  percentiles of ``bench.common``);
- **SFU out ÷ in**: media packets the SFU sent into the relay ÷ media packets it received from
  it (retransmissions and storms show here; about 1.0 on a clean link).

The rows go to ``bench/out/impairment.json``. ``--record LABEL`` also stores them under LABEL
in ``bench/impairment_results.json`` (runs recorded earlier are kept, e.g. ``before`` and
``after``), draws ``docs/bench/impairment.png`` and rewrites the section of
``docs/benchmarks.md`` between ``<!-- impairment:begin -->`` and ``<!-- impairment:end -->``
(``bench/report.py`` keeps that section when it regenerates the page).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import percentile, stop_process  # noqa: E402
from bench.glass import (  # noqa: E402
    CHROMIUM,
    CHROMIUM_ARGS,
    COMMON_JS,
    RECEIVER_HTML,
    SENDER_HTML,
    set_web_camera_fps,
    start_server,
)
from bench.impair import ImpairmentRelay, LinkProfile, LinkStats, profile  # noqa: E402

OUT = ROOT / "bench" / "out" / "impairment.json"
# every recorded run (--record LABEL), rendered into docs/benchmarks.md
RESULTS = ROOT / "bench" / "impairment_results.json"
MARKDOWN = ROOT / "docs" / "benchmarks.md"
PNG = ROOT / "docs" / "bench" / "impairment.png"
BEGIN, END = "<!-- impairment:begin -->", "<!-- impairment:end -->"

# name -> (label, profile applied to both directions of every flow)
CONDITIONS: dict[str, tuple[str, LinkProfile]] = {
    "clean": ("clean", profile()),
    "loss5": ("5 % loss", profile(0.05)),
    "loss10": ("10 % loss", profile(0.10)),
    "loss30": ("30 % loss", profile(0.30)),
    "loss50": ("50 % loss", profile(0.50)),
    "jitter200": ("200 ms jitter", profile(0.0, 200.0)),
    "jitter800": ("800 ms jitter", profile(0.0, 800.0)),
    "loss30_jitter800": ("30 % loss + 800 ms jitter", profile(0.30, 800.0)),
}
DEFAULT = "clean,loss10,loss30,jitter200,jitter800,loss30_jitter800"

STATS_JS = """async () => {
  // the busiest inbound video and audio streams (the viewed slot and the heard one)
  const out = {video: null, audio: null, audioCodec: null};
  const size = (r) => (r.kind === "video" ? r.framesReceived : r.totalSamplesReceived) || 0;
  const reports = (await window.client.stats()).recv;
  for (const r of reports) {
    if (r.type !== "inbound-rtp" || !(r.kind in out)) continue;
    if (!out[r.kind] || size(r) > size(out[r.kind])) out[r.kind] = r;
  }
  const codec = out.audio && reports.find((r) => r.id === out.audio.codecId);
  out.audioCodec = codec ? codec.mimeType : null;
  return out;
}"""


def free_udp_port() -> int:
    """A UDP port free on 127.0.0.1 right now (the SFU binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _delta(a: dict[str, Any] | None, b: dict[str, Any] | None, key: str) -> float:
    if not b:
        return 0.0
    return float(b.get(key, 0) or 0) - float((a or {}).get(key, 0) or 0)


def freeze_threshold_ms(gaps: list[float]) -> float:
    """A gap between shown frames longer than this is a freeze: Chromium's rule, max(3 × the
    typical frame interval, it + 150 ms), with the median gap as the typical interval (a
    15 fps source when fewer than two frames were shown)."""
    typical = sorted(gaps)[len(gaps) // 2] if len(gaps) > 2 else 1000.0 / 15
    return max(3.0 * typical, typical + 150.0)


def summarize(
    seconds: float,
    t0_ms: float,
    shown_at: list[float],
    samples: list[float],
    before: dict[str, Any],
    after: dict[str, Any],
    up: LinkStats,
    down: LinkStats,
) -> dict[str, Any]:
    """The figures of one window from the receiver's raw data (see the module docstring)."""
    t1_ms = t0_ms + seconds * 1000.0
    shown = sorted(t for t in shown_at if t0_ms <= t <= t1_ms)
    edges = [t0_ms, *shown, t1_ms]
    gaps = [b - a for a, b in zip(edges, edges[1:], strict=False)]
    longest = max(gaps)
    frozen_ms = sum(g for g in gaps if g > freeze_threshold_ms(gaps))
    v0, v1 = before.get("video"), after.get("video")
    a0, a1 = before.get("audio"), after.get("audio")
    samples_rx = _delta(a0, a1, "totalSamplesReceived")
    concealed = _delta(a0, a1, "concealedSamples")
    decoded = _delta(v0, v1, "framesDecoded")
    return {
        "fps_shown": len(shown) / seconds,
        "fps_decoded": decoded / seconds,
        "frozen_pct": 100.0 * frozen_ms / (seconds * 1000.0),
        "chromium_frozen_pct": 100.0 * _delta(v0, v1, "totalFreezesDuration") / seconds,
        "chromium_freezes": int(_delta(v0, v1, "freezeCount")),
        "longest_freeze_ms": longest,
        "audio_concealed_pct": 100.0 * concealed / samples_rx if samples_rx else float("nan"),
        "audio_samples_received": int(samples_rx),
        "glass_p50_ms": percentile(samples, 50),
        "glass_p95_ms": percentile(samples, 95),
        "video_nacks_sent": int(_delta(v0, v1, "nackCount")),
        "video_plis_sent": int(_delta(v0, v1, "pliCount")),
        "video_packets_lost": int(_delta(v0, v1, "packetsLost")),
        "audio_fec_packets": int(_delta(a0, a1, "fecPacketsReceived")),
        "audio_codec": after.get("audioCodec"),
        "jitter_buffer_ms": (
            1000.0
            * _delta(v0, v1, "jitterBufferDelay")
            / max(1.0, _delta(v0, v1, "jitterBufferEmittedCount"))
        ),
        # relay counters over the window: into the SFU (up) and out of it (down)
        "sfu_in_pkts": up.impaired_seen,
        "sfu_out_pkts": down.impaired_seen,
        "sfu_out_per_in": down.impaired_seen / up.impaired_seen if up.impaired_seen else 0.0,
        "relay_lost_up": up.lost,
        "relay_lost_down": down.lost,
    }


def _snapshot(relay: ImpairmentRelay) -> tuple[LinkStats, LinkStats]:
    return relay.stats("up"), relay.stats("down")


def _minus(a: LinkStats, b: LinkStats) -> LinkStats:
    out = LinkStats()
    for name in ("received", "impaired_seen", "delivered", "lost", "queue_dropped"):
        setattr(out, name, getattr(a, name) - getattr(b, name))
    return out


async def measure_condition(
    browser: Any,
    origin: str,
    relay: ImpairmentRelay,
    link: LinkProfile,
    seconds: float,
    warmup_s: float,
    viewer_jitter_target_ms: float = 0.0,
) -> dict[str, Any]:
    """One window under ``link`` with fresh pages (``viewer_jitter_target_ms``: set the
    viewer's ``RTCRtpReceiver.jitterBufferTarget`` on every receiver, an experiment of what a
    client-side playout delay would give)."""
    base = int(time.time() * 1000) - 1000
    pages_html = {
        "sender": SENDER_HTML.replace("__COMMON__", COMMON_JS),
        "receiver": RECEIVER_HTML.replace("__COMMON__", COMMON_JS),
    }

    async def serve_page(route: Any) -> None:
        name = route.request.url.split("/glass/", 1)[1].split(".html", 1)[0]
        await route.fulfill(status=200, content_type="text/html", body=pages_html[name])

    relay.set_profiles(link, link)
    ctx = await browser.new_context(viewport={"width": 800, "height": 600})
    errors: list[str] = []
    try:
        await ctx.route(f"{origin}/glass/*", serve_page)
        sender = await ctx.new_page()
        sender.on("pageerror", lambda e: errors.append(f"sender: {e}"))
        await sender.goto(f"{origin}/glass/sender.html?base={base}&audio=1")
        await sender.wait_for_function("window.ready === true", timeout=60_000)
        receiver = await ctx.new_page()
        receiver.on("pageerror", lambda e: errors.append(f"receiver: {e}"))
        await receiver.goto(f"{origin}/glass/receiver.html?base={base}")
        await receiver.wait_for_function("window.ready === true", timeout=60_000)
        await receiver.wait_for_function("window.samples.length > 0", timeout=90_000)
        if viewer_jitter_target_ms:
            await receiver.evaluate(
                "(ms) => { for (const r of window.client.recvPc.getReceivers())"
                " r.jitterBufferTarget = ms; }",
                viewer_jitter_target_ms,
            )
        await asyncio.sleep(warmup_s)
        before = await receiver.evaluate(STATS_JS)
        up0, down0 = _snapshot(relay)
        t0_ms = await receiver.evaluate(
            "window.samples = []; window.shownAt = []; performance.timeOrigin + performance.now()"
        )
        await asyncio.sleep(seconds)
        raw = await receiver.evaluate("({samples: window.samples, shownAt: window.shownAt})")
        after = await receiver.evaluate(STATS_JS)
        up1, down1 = _snapshot(relay)
        # the Web SDK's adaptive playout delay (playout.js) at the end of the window
        targets = await receiver.evaluate(
            "(window.client.recvPc?.getReceivers() ?? []).map((r) => r.jitterBufferTarget ?? 0)"
        )
    finally:
        await ctx.close()
    result = summarize(
        seconds,
        float(t0_ms),
        [float(x) for x in raw["shownAt"]],
        [float(x) for x in raw["samples"]],
        before,
        after,
        _minus(up1, up0),
        _minus(down1, down0),
    )
    result["page_errors"] = errors[:5]
    result["jitter_target_ms"] = max([float(t) for t in targets], default=0.0)
    return result


# The camera frame rate of the demo app's quality profile (the template's is 15): the sender
# page draws 30 frames a second, as a real camera gives.
CAMERA_FPS = 30


class Setup:
    """One server under test (a source tree) behind its own relay, its demo app's web camera
    profile at ``camera_fps``."""

    def __init__(self, name: str, src: Path, seed: int, camera_fps: int = CAMERA_FPS) -> None:
        self.name = name
        self.src = src
        self.camera_fps = camera_fps
        self.relay = ImpairmentRelay(("127.0.0.1", free_udp_port()), seed=seed)
        self.server: Any = None
        self.origin = ""
        self._tmp = tempfile.TemporaryDirectory(prefix="ilvb-impair-")

    async def start(self) -> None:
        await self.relay.start()
        env = {
            "ILVB_MEDIA__UDP_PORT": str(self.relay.upstream[1]),
            "ILVB_MEDIA__ANNOUNCED_PORT": str(self.relay.address[1]),
        }
        self.server, self.origin = start_server(Path(self._tmp.name), env, self.src)
        set_web_camera_fps(self.origin, Path(self._tmp.name), self.camera_fps)

    def stop(self) -> None:
        if self.server is not None:
            stop_process(self.server)
        self.relay.close()
        self._tmp.cleanup()


async def run(
    names: list[str],
    seconds: float,
    warmup_s: float,
    seed: int,
    trees: dict[str, Path],
    viewer_jitter_target_ms: float = 0.0,
    camera_fps: dict[str, int] | None = None,
) -> dict[str, list[dict[str, Any]]]:
    """Every condition in ``names`` on every tree in ``trees`` (name → source dir; its camera
    frame rate from ``camera_fps``, else :data:`CAMERA_FPS`), one server and one relay per
    tree, the trees interleaved per condition so that a change in the machine's load hits them
    alike. Returns the rows per tree."""
    from playwright.async_api import async_playwright

    fps = camera_fps or {}
    setups = [
        Setup(name, src, seed, fps.get(name, CAMERA_FPS)) for name, src in trees.items()
    ]
    rows: dict[str, list[dict[str, Any]]] = {s.name: [] for s in setups}
    try:
        for setup in setups:
            await setup.start()
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                for name in names:
                    label, link = CONDITIONS[name]
                    for setup in setups:
                        print(f"== {label} [{setup.name}]", flush=True)
                        r = await measure_condition(
                            browser,
                            setup.origin,
                            setup.relay,
                            link,
                            seconds,
                            warmup_s,
                            viewer_jitter_target_ms,
                        )
                        r.update(
                            condition=name,
                            label=label,
                            seconds=seconds,
                            camera_fps=setup.camera_fps,
                        )
                        r["load_1min"] = round(os.getloadavg()[0], 2)
                        print("   " + summary_line(r), flush=True)
                        rows[setup.name].append(r)
            finally:
                await browser.close()
    finally:
        for setup in setups:
            setup.stop()
    return rows


def summary_line(r: dict[str, Any]) -> str:
    """One line per condition."""
    return (
        f"fps {r['fps_shown']:.1f} (decoded {r['fps_decoded']:.1f}) frozen {r['frozen_pct']:.0f} %"
        f" longest {r['longest_freeze_ms']:.0f} ms audio concealed "
        f"{r['audio_concealed_pct']:.1f} % g2g {r['glass_p50_ms']:.0f}/{r['glass_p95_ms']:.0f} ms"
        f" sfu out/in {r['sfu_out_per_in']:.2f}"
    )


def table(rows: list[dict[str, Any]]) -> list[str]:
    """The markdown table of ``rows``."""
    out = [
        "| condition | video fps shown (decoded) | time frozen | longest freeze | audio concealed "
        "| glass-to-glass p50 / p95 | SFU out ÷ in | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        out.append(
            f"| {r['label']} | {r['fps_shown']:.1f} ({r['fps_decoded']:.1f}) | "
            f"{r['frozen_pct']:.0f} % | {r['longest_freeze_ms']:.0f} ms | "
            f"{r['audio_concealed_pct']:.1f} % | {r['glass_p50_ms']:.0f} / "
            f"{r['glass_p95_ms']:.0f} ms | {r['sfu_out_per_in']:.2f} | "
            f"{r.get('load_1min', float('nan')):.1f} |"
        )
    return out


# (condition, metric, comparison, target, wording): the must-show thresholds
TARGETS: list[tuple[str, str, str, float, str]] = [
    ("loss30", "audio_concealed_pct", "<=", 10.0, "30 % loss: audio concealed ≤ 10 %"),
    ("loss30", "fps_shown", ">=", 15.0, "30 % loss: ≥ 15 fps shown"),
    ("loss30", "longest_freeze_ms", "<=", 1000.0, "30 % loss: no freeze > 1 s"),
    ("jitter800", "longest_freeze_ms", "<=", 2000.0, "800 ms jitter: no freeze > 2 s"),
    ("jitter800", "audio_concealed_pct", "<=", 10.0, "800 ms jitter: audio concealed ≤ 10 %"),
    ("loss30_jitter800", "audio_concealed_pct", "<=", 20.0, "30 % + 800 ms: concealed ≤ 20 %"),
    ("loss30_jitter800", "fps_shown", ">=", 10.0, "30 % + 800 ms: ≥ 10 fps shown"),
]


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One markdown table row per target: the run's figure and met / not met."""
    by = {r["condition"]: r for r in rows}
    out = ["| target | measured | verdict |", "|---|---|---|"]
    for cond, key, op, target, wording in TARGETS:
        if cond not in by:
            continue
        v = float(by[cond][key])
        ok = v <= target if op == "<=" else v >= target
        out.append(f"| {wording} | {v:.1f} | {'met' if ok else 'not met'} |")
    return out


def render_section(runs: dict[str, dict[str, Any]]) -> str:
    """The markdown section of every recorded run (``runs[label] = {"rows", "revision",
    "date", "note"}``), between the markers."""
    out = [
        BEGIN,
        "## 5. Impaired network (`bench/impairment.py`)",
        "",
        "Chromium → SFU → Chromium on loopback, both legs (publisher → SFU and SFU → viewer) "
        "through the user-space impairment relay (`bench/impair.py`; the SFU announces the "
        "relay as its candidate via `media.announced_port`), the same impairment in both "
        "directions of every flow. Loss is random (Bernoulli); *jitter J* delays each packet "
        "by U(0, J) independently, which reorders. 640×480 canvas with the time drawn into it "
        "plus a 440 Hz tone; 20 s windows after the first frame + 4 s, getStats and "
        "`requestVideoFrameCallback` at the viewer. *fps shown* counts presented frames "
        "(decoded in brackets); *time frozen* sums gaps between shown frames longer than "
        "max(3 × median gap, median + 150 ms); *audio concealed* = concealedSamples ÷ "
        "totalSamplesReceived; glass-to-glass percentiles are nearest-rank; *SFU out ÷ in* = "
        "media packets the SFU sent into the relay ÷ those it received from it; *load* = the "
        "machine's 1-minute load average at the end of the window (2 cores, shared).",
        "",
        "What changed between the runs: *before* is 698163e (NACK only: the SFU re-NACKs "
        "publishers every 50 ms, answers every subscriber NACK, never asks for a keyframe when it "
        "gives up, reports only its own leg's loss; no RED, no RTX). The *after* runs add, in "
        "order: RTT-paced NACK retries and a keyframe request on give-up, a once-per-RTT "
        "retransmission limiter per subscriber (RTT from the subscriber's RRs), the worst "
        "subscriber loss in the audio RR to the publisher (Opus FEC), RED for audio, RTX from "
        "publishers, then NACK for audio on the publisher's leg. The SFU adds no jitter of "
        "its own (it forwards at once). Each *before* was "
        "run interleaved with the *after* below it, condition by condition, so both saw the same "
        "machine load; the machine was shared and loaded throughout (load column), which is "
        "why the clean rows vary.",
        "",
        "Runs 1-6 had a 15 fps source: the sender page draws 30 fps, but the demo app's camera "
        "profile (the `realtime_call` template, `video.fps` 15) capped what the Web SDK sent "
        "(the sender's outbound-rtp `framesPerSecond` 15, `qualityLimitationReason` none), so "
        "≥ 15 fps shown was out of reach. From run 7 on the benchmark sets the app's web "
        "profile to 30 fps (`--camera-fps`, what an app with a 30 fps camera does), in both "
        "trees. Run 7's *after* adds repeated NACK answers: a receive-only Chromium re-NACKs "
        "only every 100 ms, so the SFU sends each answer 2-3 times (4 ms apart) to a subscriber "
        "whose smoothed RR loss is ≥ 5 % / ≥ 20 %, unless its interarrival jitter is above "
        "50 ms (then the loss it reports is mostly reordering).",
        "",
    ]
    for label, run in runs.items():
        note = f" — {run['note']}" if run.get("note") else ""
        out += [
            f"### {label} (revision {run.get('revision', '?')}, {run.get('date', '?')}){note}",
            "",
            *table(run["rows"]),
            "",
        ]
    if runs:
        afters = [k for k in runs if k.startswith("after")]
        last = afters[-1] if afters else list(runs)[-1]
        out += [
            f"Targets against the last run recorded ({last}; one 20 s window per condition, "
            "so a figure near a threshold can go either way on a re-run):",
            "",
            *verdicts(runs[last]["rows"]),
            "",
            f"![impairment runs](bench/{PNG.name})",
            "",
        ]
    out.append(END)
    return "\n".join(out)


def splice(text: str, section: str) -> str:
    """``text`` with its impairment section replaced by ``section`` (appended if absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start >= 0 and end > start:
        return text[:start] + section + text[end + len(END) :]
    return text.rstrip("\n") + "\n\n" + section + "\n"


def existing_section(text: str) -> str | None:
    """The impairment section of ``text`` (markers included), if any."""
    start, end = text.find(BEGIN), text.find(END)
    return text[start : end + len(END)] if start >= 0 and end > start else None


def record(label: str, rows: list[dict[str, Any]], note: str = "", src: Path = ROOT) -> None:
    """Store ``rows`` (measured on the tree ``src``) under ``label`` and regenerate the plot
    and the markdown section."""
    import datetime
    import subprocess

    runs: dict[str, dict[str, Any]] = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    rev = subprocess.run(
        ["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    runs[label] = {
        "revision": rev,
        "date": datetime.date.today().isoformat(),
        "note": note,
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(runs, indent=1) + "\n")
    render_docs()


def render_docs() -> None:
    """Redraw the plot and the markdown section from ``bench/impairment_results.json``."""
    runs: dict[str, dict[str, Any]] = json.loads(RESULTS.read_text())
    plot({k: v["rows"] for k, v in runs.items()}, PNG)
    MARKDOWN.write_text(splice(MARKDOWN.read_text(), render_section(runs)))


def plot(runs: dict[str, list[dict[str, Any]]], png: Path) -> None:
    """Bars per condition for each labelled run (e.g. before / after): fps, concealment, freeze."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [
        ("fps_shown", "video fps shown"),
        ("audio_concealed_pct", "audio concealed %"),
        ("longest_freeze_ms", "longest freeze ms"),
        ("glass_p95_ms", "glass-to-glass p95 ms"),
    ]
    labels = [r["label"] for r in next(iter(runs.values()))]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics), 5.0))
    width = 0.8 / max(1, len(runs))
    for ax, (key, title) in zip(axes, metrics, strict=False):
        for k, (run_name, rows) in enumerate(runs.items()):
            by = {r["label"]: r[key] for r in rows}
            xs = [i + k * width for i in range(len(labels))]
            ax.bar(xs, [by.get(lbl, 0.0) for lbl in labels], width, label=run_name)
        ax.set_title(title)
        ax.set_xticks([i + width * (len(runs) - 1) / 2 for i in range(len(labels))])
        ax.set_xticklabels(labels, rotation=35, ha="right", fontsize=8)
    handles, names = axes[0].get_legend_handles_labels()
    short = [n if len(n) <= 48 else n[:46] + "…" for n in names]
    fig.tight_layout(rect=(0, 0.16, 1, 1))
    fig.legend(handles, short, loc="lower center", ncol=3, fontsize=8, frameon=False)
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=90)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=4.0)
    p.add_argument("--conditions", default=DEFAULT, help=f"from {','.join(CONDITIONS)}")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", type=Path, default=OUT)
    p.add_argument("--record", metavar="LABEL", help="keep the rows under LABEL in the docs")
    p.add_argument("--note", default="", help="one line about what LABEL ran")
    p.add_argument(
        "--viewer-jitter-target-ms",
        type=float,
        default=0.0,
        help="set jitterBufferTarget on the viewer's receivers (an experiment)",
    )
    p.add_argument(
        "--compare",
        metavar="LABEL=DIR",
        help="also run the source tree DIR (e.g. a worktree of the previous revision), "
        "interleaved with this one per condition; recorded as LABEL with --record",
    )
    p.add_argument(
        "--camera-fps",
        type=int,
        default=CAMERA_FPS,
        help="the demo app's web camera profile frame rate (the template's is 15)",
    )
    p.add_argument(
        "--compare-camera-fps",
        type=int,
        help="the same for the --compare tree (default: --camera-fps)",
    )
    p.add_argument("--render", action="store_true", help="only redraw the docs from the JSON")
    args = p.parse_args(argv)
    if args.render:
        render_docs()
        return 0
    names = [n for n in args.conditions.split(",") if n]
    unknown = [n for n in names if n not in CONDITIONS]
    if unknown:
        p.error(f"unknown conditions {unknown}")
    from bench.fanout import bench_lock

    trees: dict[str, Path] = {}
    fps: dict[str, int] = {}
    if args.compare:
        other, _, src = args.compare.partition("=")
        trees[other] = Path(src).resolve()
        fps[other] = args.compare_camera_fps or args.camera_fps
    this = args.record or "this tree"
    trees[this] = ROOT
    fps[this] = args.camera_fps
    with bench_lock():
        runs = asyncio.run(
            run(
                names,
                args.seconds,
                args.warmup,
                args.seed,
                trees,
                args.viewer_jitter_target_ms,
                fps,
            )
        )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(runs, indent=2) + "\n")
    for name, rows in runs.items():
        print(f"\n{name}:\n" + "\n".join(table(rows)))
    if args.record:
        for name, rows in runs.items():
            note = args.note if name == this else f"run interleaved with {this}"
            record(name, rows, note, trees[name])
    return 0 if all(r["fps_shown"] > 0 for rows in runs.values() for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
