"""Writes ``docs/benchmarks.md`` and its plots (``docs/bench/*.png``) from ``bench/results.json``.

python bench/report.py            # re-render the report from the last results.json
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.impairment import existing_section, splice  # noqa: E402
from bench.recording import existing_section as recording_section  # noqa: E402
from bench.recording import splice as splice_recording  # noqa: E402

SIMULCAST_BEGIN, SIMULCAST_END = "<!-- simulcast:begin -->", "<!-- simulcast:end -->"

# Targets from issue 6.
TARGET_CPU_RATIO = 2.0
TARGET_STREAMS_PER_CORE = 500
TARGET_CORE_SHARE = 0.80
TARGET_ADDED_P50_MS = 2.0
TARGET_ADDED_P99_MS = 5.0
TARGET_LATENCY_AT_N = 50
TARGET_GLASS_P50_MS = 150.0


def _ok(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted((r for r in rows if "error" not in r), key=lambda r: r["subscribers"])


def _fmt(v: Any, digits: int = 2) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.{digits}f}"
    return str(v)


def plot(fan: dict[str, list[dict[str, Any]]], png_dir: Path) -> list[str]:
    """One PNG per figure; returns their file names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    png_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        (
            "cpu_per_pkt.png",
            "SFU CPU per forwarded packet",
            "µs / packet",
            [("cpu_us_per_pkt", "")],
        ),
        (
            "server_cpu.png",
            "Server CPU (one core = 100 %)",
            "% of a core",
            [("server_cpu_pct", "")],
        ),
        (
            "added_latency.png",
            "SFU-added latency (packet in → out)",
            "ms",
            [("added_p50_ms", " p50"), ("added_p99_ms", " p99")],
        ),
        ("delivered.png", "Delivered / expected packets", "ratio", [("delivered_ratio", "")]),
    ]
    names = []
    log_y = {"cpu_per_pkt.png", "added_latency.png"}
    for name, title, ylabel, series in figures:
        fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
        for server, style in (("ilvb", "o-"), ("janus", "s--")):
            rows = _ok(fan.get(server, []))
            if not rows:
                continue
            xs = [r["subscribers"] for r in rows]
            for key, suffix in series:
                ax.plot(xs, [r[key] for r in rows], style, label=f"{server}{suffix}")
        ax.set_title(title)
        ax.set_xlabel("subscribers (N)")
        ax.set_ylabel(ylabel)
        ax.set_xscale("log")
        if name in log_y:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(png_dir / name)
        plt.close(fig)
        names.append(name)
    return names


def streams_per_core_row(ilvb: dict[int, dict[str, Any]]) -> tuple[str, str, str]:
    """The streams-per-core target: measured at the largest N within 80 % of a core with every
    packet delivered, and extrapolated to 80 % from that run's CPU per packet. One stream is one
    subscriber's 640×480 video *and* its Opus audio (the audio's cost is included)."""
    fitting = [
        r
        for n, r in sorted(ilvb.items())
        if r["server_cpu_pct"] <= 100 * TARGET_CORE_SHARE and r["delivered_ratio"] >= 0.999
    ]
    top = fitting[-1] if fitting else ilvb[max(ilvb)]
    pps = (top["publisher_video_pkts"] + top["publisher_audio_pkts"]) / top["seconds"]
    streams = TARGET_CORE_SHARE * 1e6 / (top["cpu_us_per_pkt"] * pps)
    return (
        f"≥ {TARGET_STREAMS_PER_CORE} forwarded 640×480 video streams per core at "
        f"≤ {TARGET_CORE_SHARE:.0%} of a core",
        f"measured: {top['subscribers']} streams (video + audio) at "
        f"{top['server_cpu_pct']:.0f} % of a core, all delivered; extrapolated to 80 %: "
        f"{streams:.0f} ({top['cpu_us_per_pkt']:.1f} µs/pkt)",
        "met" if streams >= TARGET_STREAMS_PER_CORE else "NOT met",
    )


def _targets(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    fan = results["workloads"].get("fanout", {})
    ilvb = {r["subscribers"]: r for r in _ok(fan.get("ilvb", []))}
    ratios = results.get("ratios", {})
    rows: list[tuple[str, str, str]] = []
    if "cpu_per_pkt" in ratios:
        v = ratios["cpu_per_pkt"]
        rows.append(
            (
                f"ilvb CPU per forwarded packet ≤ {TARGET_CPU_RATIO:g}× Janus's",
                f"{v:.2f}× at N={ratios['cpu_per_pkt_at_subscribers']}",
                "met" if v <= TARGET_CPU_RATIO else "NOT met",
            )
        )
    if ilvb:
        rows.append(streams_per_core_row(ilvb))
    if TARGET_LATENCY_AT_N in ilvb:
        r = ilvb[TARGET_LATENCY_AT_N]
        ok = r["added_p50_ms"] < TARGET_ADDED_P50_MS and r["added_p99_ms"] < TARGET_ADDED_P99_MS
        rows.append(
            (
                f"SFU-added latency p50 < {TARGET_ADDED_P50_MS:g} ms, p99 < "
                f"{TARGET_ADDED_P99_MS:g} ms at {TARGET_LATENCY_AT_N} subscribers",
                f"p50 {r['added_p50_ms']:.2f} ms, p99 {r['added_p99_ms']:.2f} ms",
                "met" if ok else "NOT met",
            )
        )
    glass = results["workloads"].get("glass_to_glass", {}).get("ilvb")
    if glass and "p50_ms" in glass:
        rows.append(
            (
                f"glass-to-glass p50 < {TARGET_GLASS_P50_MS:g} ms on loopback",
                f"p50 {glass['p50_ms']:.0f} ms, p95 {glass.get('p95_ms', float('nan')):.0f} ms",
                "met" if glass["p50_ms"] < TARGET_GLASS_P50_MS else "NOT met",
            )
        )
    return rows


def _analysis(fan: dict[str, list[dict[str, Any]]]) -> list[str]:
    """A few sentences derived from the figures: where a packet's CPU goes, what 500 streams
    per core would need."""
    ilvb, janus = _ok(fan.get("ilvb", [])), _ok(fan.get("janus", []))
    if not ilvb or "system_us_per_pkt" not in ilvb[-1]:
        return []
    top = ilvb[-1]
    pps = (top["publisher_video_pkts"] + top["publisher_audio_pkts"]) / top["seconds"]
    budget = TARGET_CORE_SHARE * 1e6 / (TARGET_STREAMS_PER_CORE * pps)
    lines = [
        f"**Reading the numbers.** At N={top['subscribers']} ilvb spends "
        f"{top['cpu_us_per_pkt']:.1f} µs per forwarded packet: {top['user_us_per_pkt']:.1f} µs "
        f"in the worker itself and {top['system_us_per_pkt']:.1f} µs in the kernel (on loopback "
        "the sender's system call also delivers the datagram to the receiving socket)."
    ]
    j = next((r for r in janus if r["subscribers"] == top["subscribers"]), None)
    if j is not None and "system_us_per_pkt" in j:
        lines[0] += (
            f" Janus: {j['cpu_us_per_pkt']:.1f} µs ({j['user_us_per_pkt']:.1f} user + "
            f"{j['system_us_per_pkt']:.1f} kernel)."
        )
    lines[0] += (
        f" {TARGET_STREAMS_PER_CORE} streams (video + audio, {pps:.0f} packets/s each) "
        f"in {TARGET_CORE_SHARE:.0%} of a core leave {budget:.1f} µs per packet in all."
    )
    return lines


def render(results: dict[str, Any], pngs: list[str], profile_text: str | None) -> str:
    """The markdown text of the report."""
    m = results.get("machine", {})
    st = results.get("settings", {})
    fan = results["workloads"].get("fanout", {})
    out: list[str] = [
        "# Benchmarks: ilvb's SFU next to Janus",
        "",
        "Generated by `make bench` (`bench/run_all.py`); every figure below comes from one run on "
        "one machine, both servers measured back to back. Raw figures: `bench/results.json`.",
        "",
        f"- Date (UTC): {m.get('date_utc', '?')}; machine: {m.get('cpus', '?')} × "
        f"{m.get('cpu_model', '?')}, {m.get('memory_gb', '?')} GB, kernel {m.get('kernel', '?')},"
        f" Python {m.get('python', '?')}; {m.get('janus', 'Janus')} (Debian package).",
        f"- Load average when the run started: {_fmt(tuple(m.get('load_avg_at_start', ())))} "
        "(the machine is shared with other work; see *Method*).",
        f"- Server pinned to CPU {st.get('server_cpu', '0')}, all clients to CPU "
        f"{st.get('client_cpu', '1')}; SCHED_FIFO priority {st.get('rt_priority', 0)} for both "
        f"servers and the clients; ilvb with {st.get('ilvb_workers', 1)} media worker; Janus "
        f"videoroom with event_loops = {st.get('janus_event_loops', 1)}. Every run was repeated "
        f"in {st.get('rounds', 1)} interleaved rounds; tables show the best round per server and "
        "N (lowest CPU per packet: the least disturbed by the machine's other work), all rounds "
        "are in `bench/results.json`.",
        "",
        "## Targets (issue 6)",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    out += [f"| {a} | {b} | {c} |" for a, b, c in _targets(results)]
    out += ["", "## Ratios (ilvb ÷ Janus, same run)", ""]
    ratios = results.get("ratios", {})
    if "cpu_per_pkt" in ratios:
        out.append(
            f"**cpu_per_pkt = {ratios['cpu_per_pkt']:.2f}** at "
            f"N={ratios['cpu_per_pkt_at_subscribers']} (geometric mean over N: "
            f"{ratios['cpu_per_pkt_geomean']:.2f}). Below 1 means ilvb spends less CPU "
            "per forwarded packet than Janus."
        )
        out += ["", "| N | cpu_per_pkt ilvb/janus | added p50 ilvb/janus |", "|---|---|---|"]
        lat = ratios.get("added_p50_by_subscribers", {})
        for n, v in ratios["cpu_per_pkt_by_subscribers"].items():
            out.append(f"| {n} | {v:.2f} | {_fmt(lat.get(n))} |")
    else:
        out.append("No ratio: one of the servers produced no fan-out figure.")
    out += [
        "",
        "## 1–2. Fan-out and SFU-added latency",
        "",
        "1 publisher (640×480 VP8 ~30 fps, ~0.87 Mbit/s, + Opus 20 ms; about 150 packets/s) → N "
        "subscribers that count packets but never decode. *CPU µs/pkt* = CPU time of the server "
        "process tree (all threads, all workers) during the window ÷ packets delivered to "
        "subscribers in it. *Added latency* = kernel receive time at the subscriber's socket − "
        "the publisher's send time (same clock), minus the median of a direct publisher → "
        "subscriber run without SFU (the baseline column). Every percentile on this page is "
        "nearest-rank (`bench.common.percentile`: the sample of rank ⌈p/100 × n⌉).",
        "",
        "| N | server | CPU µs/pkt | user + kernel µs | server CPU % | forwarded pkt/s | "
        "delivered / expected | added p50 ms | added p99 ms | baseline p50 ms | setup s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    ns = sorted({r["subscribers"] for rows in fan.values() for r in rows})
    for n in ns:
        for server in ("ilvb", "janus"):
            row = next((r for r in fan.get(server, []) if r["subscribers"] == n), None)
            if row is None:
                continue
            if "error" in row:
                err = row["error"].strip().splitlines()[-1][:120] if row["error"].strip() else ""
                out.append(f"| {n} | {server} | failed: {err} | | | | | | | | |")
                continue
            out.append(
                f"| {n} | {server} | {row['cpu_us_per_pkt']:.2f} | "
                f"{row.get('user_us_per_pkt', float('nan')):.1f} + "
                f"{row.get('system_us_per_pkt', float('nan')):.1f} | {row['server_cpu_pct']:.1f} | "
                f"{row['forwarded_pkts_per_s']:.0f} | {row['delivered_ratio']:.4f} | "
                f"{row['added_p50_ms']:.3f} | {row['added_p99_ms']:.3f} | "
                f"{row['baseline_p50_ms']:.3f} | {row['setup_s']:.1f} |"
            )
    out += ["", *_analysis(fan), ""]
    for name in pngs:
        out.append(f"![{name[:-4]}](bench/{name})")
    out.append("")
    glass = results["workloads"].get("glass_to_glass", {}).get("ilvb")
    out += ["## 3. Glass-to-glass (two Chromium pages through ilvb)", ""]
    if glass is None:
        out.append("Not run in this report (bench/glass.py absent or skipped).")
    elif "error" in glass:
        out.append(f"Failed: `{glass['error'].strip().splitlines()[-1][:200]}`")
    else:
        out.append(
            "The sender draws its clock as a bit-block pattern on a canvas "
            "(`captureStream`), the receiver draws the remote video into a canvas and "
            "reads the blocks back; both pages share one clock."
        )
        out += [
            "",
            "| frames | p50 ms | p95 ms | max ms |",
            "|---|---|---|---|",
            f"| {glass.get('frames', '–')} | {_fmt(glass.get('p50_ms'), 1)} | "
            f"{_fmt(glass.get('p95_ms'), 1)} | {_fmt(glass.get('max_ms'), 1)} |",
        ]
    out.append("")
    storm = results["workloads"].get("join_storm", {}).get("ilvb")
    out += ["## 4. Join storm (control plane, `bench/join_storm.py`)", ""]
    if storm is None:
        out.append("Not run in this report.")
    elif "error" in storm:
        out.append(f"Failed: `{storm['error'].strip().splitlines()[-1][:200]}`")
    else:
        keys = [k for k, v in storm.items() if isinstance(v, (int, float))]
        out += [
            "| " + " | ".join(keys) + " |",
            "|" + "---|" * len(keys),
            "| " + " | ".join(_fmt(storm[k]) for k in keys) + " |",
            "",
            "Janus has no equivalent of ilvb's room/member signaling, so this is ilvb only.",
        ]
    out.append("")
    if profile_text:
        out += [
            "## Where ilvb's worker spends its time (py-spy, fan-out window)",
            "",
            "Sampled with `py-spy record --nonblocking -r 200` on the media worker during the "
            "measurement window (idle samples excluded; uvloop's C code shows as "
            "`Runner.run`).",
            "",
            "```",
            profile_text.strip(),
            "```",
            "",
        ]
    out += [
        "## Method",
        "",
        "- **Network**: Janus skips loopback when it gathers ICE candidates, so each run "
        "creates a network namespace with a veth pair whose both ends are inside it "
        "(`10.231.x.1/.2`, never routed out); both servers and all clients run in it and use "
        "the `va` address (`bench/netns.py`). The namespace is deleted after each run.",
        "- **Clients** (`bench/liteclient.py`): a light WebRTC endpoint used unchanged against "
        "both servers — ICE as a full agent (aioice), DTLS 1.2 (pyOpenSSL), SRTP "
        "AES_CM_128_HMAC_SHA1_80 (pylibsrtp). The publisher loops a clip encoded once at start "
        "(aiortc's VP8 and Opus encoders), with fresh sequence numbers and timestamps and "
        "video paced at 2.5× its bitrate like a browser's pacer; every packet carries a tag "
        "after its payload whose send time is logged. Subscribers unprotect every packet, count "
        "it per SSRC and record the tag with the kernel's receive timestamp (SO_TIMESTAMPNS).",
        "- **Signaling**: Janus through its videoroom plugin over the HTTP API "
        "(`bench/janus.py`); ilvb through its MediaPlane API (`negotiate_send`, `offer_receive`,"
        " `accept_receive_answer`, `set_subscription`) in a dedicated server process "
        "(`bench/ilvb_server.py`) whose media worker is a child process.",
        "- **CPU**: psutil CPU times of the server's process tree, read at the start and end "
        "of the window. Janus is one process (all its threads); ilvb is the RPC process plus "
        "its worker.",
        "- **Scheduling**: the machine runs other work; with plain priorities the wake-up delay "
        "of a mostly idle server on a busy core adds milliseconds to every packet. Both servers "
        "and the clients therefore run SCHED_FIFO (`chrt`), pinned to their own core, so the "
        "latency figures measure the SFUs and not the neighbours. `--rt 0` turns this off.",
        "",
        "## Optimisations (before → after)",
        "",
        "The forwarding path is owned by the SFU; each optimisation is measured by running the "
        "bench on the revision before and after it. The step-by-step record of the C fast path "
        "(profile before, each change, rounds with it on and off) is in "
        "`docs/internals/hotpath.md`.",
        "",
    ]
    before = results["workloads"].get("fanout_before") or []
    for table in [before] if isinstance(before, dict) else before:  # one table per N
        n = table["subscribers"]
        out += [
            f"ilvb at N={n}: older revisions of the `ilvb` package and this tree, measured in the "
            "same run with the same bench code (`run_all.py --before REV,…`), in interleaved "
            "rounds; each row is the best round (all rounds' CPU per packet in brackets).",
            "",
            "| revision | date | change | CPU µs/pkt (rounds) | server CPU % | added p50 ms | "
            "added p99 ms |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in table["revisions"]:
            subject = r.get("subject", "")[:90].replace("|", "/")
            date = r.get("date", "")[:10]
            if "error" in r:
                out.append(f"| {r['rev']} | {date} | {subject} | failed | | | |")
                continue
            rounds = ", ".join(f"{v:.1f}" for v in r.get("cpu_us_per_pkt_all", []))
            out.append(
                f"| {r['rev']} | {date} | {subject} | {r['cpu_us_per_pkt']:.2f} ({rounds}) | "
                f"{r['server_cpu_pct']:.1f} | {r['added_p50_ms']:.3f} | {r['added_p99_ms']:.3f} |"
            )
        out.append("")
    for item in results.get("optimisations", []):
        out.append(f"- {item}")
    return "\n".join(out) + "\n"


def write_report(results: dict[str, Any], md_path: Path, png_dir: Path) -> None:
    """Render the plots and the markdown."""
    pngs = plot(results["workloads"].get("fanout", {}), png_dir)
    profile_text = None
    pf = results.get("ilvb_profile_file")
    if pf:
        top = (ROOT / pf).with_suffix(".top.txt")
        if top.exists():
            profile_text = top.read_text()
    text = render(results, pngs, profile_text)
    old = md_path.read_text() if md_path.exists() else ""
    kept = existing_section(old)  # bench/impairment.py's runs are recorded separately
    text = splice(text, kept) if kept else text
    recording = recording_section(old)  # so are bench/recording.py's
    text = splice_recording(text, recording) if recording else text
    # the simulcast figures come from tests/web/test_simulcast.py runs, written by hand
    start, end = old.find(SIMULCAST_BEGIN), old.find(SIMULCAST_END)
    if start >= 0 and end > start:
        text = text.rstrip("\n") + "\n\n" + old[start : end + len(SIMULCAST_END)] + "\n"
    md_path.write_text(text)


if __name__ == "__main__":
    res = json.loads((ROOT / "bench" / "results.json").read_text())
    write_report(res, ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "bench")
    sys.exit(0)
