"""Every benchmark on both servers in one run: ``make bench`` (or ``python bench/run_all.py``).

1. fan-out (``bench/fanout.py``): 1 publisher → N non-decoding subscribers, on ilvb and Janus,
   for each N: SFU CPU µs per forwarded packet, server CPU %, delivered / expected;
2. SFU-added latency p50 / p99 from the same runs (packet in → packet out, same clock);
3. glass-to-glass between two Chromium pages through ilvb (``bench/glass.py``), when present;
4. join storm (``bench/join_storm.py``, the control plane's bench), ilvb only.

Installs Janus from Debian when it is missing (as root). Writes ``bench/results.json`` (every
figure per workload and server, and ``ratios`` with ``cpu_per_pkt`` = ilvb ÷ Janus) and
``docs/benchmarks.md`` with tables and plots (``docs/bench/*.png``), then prints the ratios.
Every process it starts is stopped by PID and every namespace deleted, also on errors.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import fanout  # noqa: E402
from bench.common import run_child, stop_all  # noqa: E402
from bench.janus import ensure_installed  # noqa: E402
from bench.report import write_report  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
SERVERS = ("ilvb", "janus")


def _run_child(cmd: list[str], limit_s: float) -> tuple[int, str, str]:
    """Run a benchmark script as a child we own; stop it by PID if it overruns."""
    return run_child(cmd, limit_s, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})


def run_before(opts: argparse.Namespace, n: int) -> list[dict[str, Any]]:
    """ilvb at ``n`` subscribers (one of ``--before-n``) for each older revision in ``--before``
    (its ``ilvb`` package exported with ``git archive`` into a temp dir) and for this tree: the
    before → after table. Rounds are interleaved (every revision once per round, ``--repeat``
    rounds) and each revision's row is its best round, as in the main fan-out."""
    import shutil
    import tempfile

    revs: list[dict[str, Any]] = []
    tmps: list[Path] = []
    try:
        for rev in opts.before:
            info = subprocess.run(
                ["git", "log", "-1", "--format=%h%x00%s%x00%cI", rev],
                cwd=ROOT,
                capture_output=True,
                text=True,
            )
            if info.returncode != 0:
                revs.append({"rev": rev, "error": info.stderr.strip() or "unknown revision"})
                continue
            short, subject, date = info.stdout.strip().split("\x00")
            tmp = Path(tempfile.mkdtemp(prefix=f"ilvb-{short}-"))
            tmps.append(tmp)
            archive = subprocess.run(
                ["git", "archive", rev, "ilvb"], cwd=ROOT, capture_output=True, check=True
            ).stdout
            subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive, check=True)
            built = _reuse_fastpath(tmp)
            print(f"== ilvb@{short}: C fast path {'reused (same source)' if built else 'absent'}")
            revs.append({"rev": short, "subject": subject, "date": date, "src": tmp, "runs": []})
        revs.append(
            {
                "rev": "this tree",
                "subject": "(working tree of this run)",
                "date": "",
                "src": None,
                "runs": [],
            }
        )
        for round_ in range(opts.repeat):
            for entry in revs:
                if "error" in entry:
                    continue
                print(
                    f"== fan-out ilvb@{entry['rev']} N={n} (round {round_ + 1}/{opts.repeat})",
                    flush=True,
                )
                args = fanout_args("ilvb", n, opts)
                args.ilvb_src = entry["src"]
                try:
                    r = fanout.run(args)
                except Exception as exc:  # noqa: BLE001 - recorded in the report
                    entry["error"] = str(exc)[-1000:]
                    continue
                r.pop("late_samples", None)
                r.pop("per_subscriber_p50_ms", None)
                print("   " + fanout.summary_line(r), flush=True)
                entry["runs"].append(r)
    finally:
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    rows: list[dict[str, Any]] = []
    for entry in revs:
        head: dict[str, Any] = {k: entry[k] for k in ("rev", "subject", "date") if k in entry}
        runs = entry.get("runs", [])
        if not runs:
            rows.append({**head, "error": entry.get("error", "no run")})
            continue
        rows.append({**head, **best_of(runs)})
    return rows


def _reuse_fastpath(tree: Path) -> bool:
    """Give an exported revision this tree's compiled fast path when its C source is the same
    (an export has no build products; without it the revision would forward in pure Python)."""
    here = ROOT / "ilvb" / "sfu" / "fastpath"
    there = tree / "ilvb" / "sfu" / "fastpath"
    source = "_fastpath.c"
    if (
        not (there / source).is_file()
        or (there / source).read_bytes() != (here / source).read_bytes()
    ):
        return False
    built = sorted(here.glob("_fastpath*.so"))
    for so in built:
        (there / so.name).write_bytes(so.read_bytes())
    return bool(built)


def fanout_args(
    server: str, n: int, opts: argparse.Namespace, profile: Path | None = None
) -> argparse.Namespace:
    """The argument namespace ``bench.fanout.run`` expects."""
    return argparse.Namespace(
        server=server,
        subscribers=n,
        seconds=opts.seconds,
        workers=1,
        json=None,
        janus_debug=3,
        janus_event_loops=1,
        nice=-10,
        rt=opts.rt,
        pacing=2.5,
        keep_logs="",
        profile=profile,
        ilvb_src=None,
    )


def best_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The round with the lowest CPU per packet (the least disturbed by the machine's other
    work), with every round's CPU per packet in ``cpu_us_per_pkt_all``."""
    best = dict(min(runs, key=lambda r: r["cpu_us_per_pkt"]))
    best["rounds"] = len(runs)
    best["cpu_us_per_pkt_all"] = [r["cpu_us_per_pkt"] for r in runs]
    return best


def run_fanout(opts: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Fan-out on both servers for each N, ``--repeat`` interleaved rounds, best round kept.

    A failed run is recorded and that server is not tried at larger N.
    """
    runs: dict[tuple[str, int], list[dict[str, Any]]] = {}
    failed: dict[str, dict[str, Any]] = {}
    for round_ in range(opts.repeat):
        for n in opts.subscribers:
            for server in SERVERS:
                if server in failed:
                    continue
                profile = None
                if server == "ilvb" and n == opts.profile_at and round_ == 0:
                    profile = ROOT / "bench" / "out" / f"ilvb_fanout{n}_profile.txt"
                print(f"== fan-out {server} N={n} (round {round_ + 1}/{opts.repeat})", flush=True)
                t0 = time.monotonic()
                try:
                    r = fanout.run(fanout_args(server, n, opts, profile))
                except Exception as exc:  # noqa: BLE001 - recorded in the report
                    print(f"   failed: {exc}", flush=True)
                    failed[server] = {"subscribers": n, "error": str(exc)[-2000:]}
                    continue
                r.pop("late_samples", None)
                r["wall_s"] = time.monotonic() - t0
                runs.setdefault((server, n), []).append(r)
                print(
                    "   " + fanout.summary_line(r) + f" server_cpu_pct={r['server_cpu_pct']:.1f}",
                    flush=True,
                )
    out: dict[str, list[dict[str, Any]]] = {s: [] for s in SERVERS}
    for server in SERVERS:
        for n in opts.subscribers:
            if (server, n) in runs:
                out[server].append(best_of(runs[(server, n)]))
        if server in failed and all(
            r["subscribers"] != failed[server]["subscribers"] for r in out[server]
        ):
            out[server].append(failed[server])
    return out


def run_glass(opts: argparse.Namespace) -> dict[str, Any] | None:
    """Glass-to-glass through ilvb (``bench/glass.py``), if it exists."""
    script = ROOT / "bench" / "glass.py"
    if not script.exists():
        return None
    print("== glass-to-glass ilvb", flush=True)
    out_json = ROOT / "bench" / "out" / "glass.json"
    out_json.unlink(missing_ok=True)
    # Same priority boost as the fan-out runs (the browser and server inherit it).
    rc, out, err = _run_child(
        [
            "nice",
            "-n",
            "-10",
            sys.executable,
            str(script),
            "--seconds",
            str(opts.glass_seconds),
            "--json",
            str(out_json),
        ],
        300,
    )
    if rc != 0 or not out_json.exists():
        return {"error": (err or out)[-2000:]}
    result = json.loads(out_json.read_text())
    print("   " + out.strip().splitlines()[-1], flush=True)
    return result


def run_join_storm(opts: argparse.Namespace) -> dict[str, Any] | None:
    """The control plane's join storm (``bench/join_storm.py``), ilvb only."""
    script = ROOT / "bench" / "join_storm.py"
    if not script.exists():
        return None
    print(f"== join storm ilvb members={opts.members}", flush=True)
    out_json = ROOT / "bench" / "out" / "join_storm.json"
    out_json.unlink(missing_ok=True)
    rc, out, err = _run_child([sys.executable, str(script), "--members", str(opts.members)], 600)
    if rc != 0 or not out_json.exists():
        return {"error": (err or out)[-2000:]}
    last = out.strip().splitlines()[-1] if out.strip() else ""
    print("   " + last, flush=True)
    return json.loads(out_json.read_text())


def _ok(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {r["subscribers"]: r for r in rows if "error" not in r}


def compute_ratios(fan: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """ilvb ÷ Janus per N for CPU per packet and added latency; headline = largest common N."""
    ilvb, janus = _ok(fan.get("ilvb", [])), _ok(fan.get("janus", []))
    common = sorted(set(ilvb) & set(janus))
    by_n = {
        str(n): ilvb[n]["cpu_us_per_pkt"] / janus[n]["cpu_us_per_pkt"]
        for n in common
        if janus[n]["cpu_us_per_pkt"] > 0
    }
    ratios: dict[str, Any] = {"cpu_per_pkt_by_subscribers": by_n}
    if by_n:
        head = str(common[-1])
        ratios["cpu_per_pkt"] = by_n[head]
        ratios["cpu_per_pkt_at_subscribers"] = common[-1]
        ratios["cpu_per_pkt_geomean"] = math.exp(
            sum(math.log(v) for v in by_n.values()) / len(by_n)
        )
        lat = {}
        for n in common:
            j = janus[n]["added_p50_ms"]
            if j > 0:
                lat[str(n)] = ilvb[n]["added_p50_ms"] / j
        ratios["added_p50_by_subscribers"] = lat
    return ratios


def machine_info() -> dict[str, Any]:
    """What the figures were measured on."""
    import psutil  # type: ignore[import-untyped]

    janus_version = ""
    with contextlib.suppress(Exception):
        janus_version = subprocess.run(
            [ensure_installed(), "--version"], capture_output=True, text=True, timeout=10
        ).stdout.splitlines()[0]
    return {
        "date_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "cpu_model": next(
            (
                ln.split(":", 1)[1].strip()
                for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")
            ),
            platform.processor(),
        ),
        "load_avg_at_start": os.getloadavg(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "kernel": platform.release(),
        "janus": janus_version,
    }


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--subscribers",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[1, 10, 50, 100, 200, 300],
        help="comma-separated N list",
    )
    p.add_argument("--seconds", type=float, default=10.0, help="fan-out measurement window")
    p.add_argument(
        "--rt", type=int, default=10, help="SCHED_FIFO priority of servers and clients (0 = off)"
    )
    p.add_argument(
        "--profile-at",
        type=int,
        default=100,
        help="py-spy the ilvb worker during the fan-out run with this N (0 = never)",
    )
    p.add_argument("--members", type=int, default=1000, help="join-storm members")
    p.add_argument(
        "--before",
        type=lambda s: [x for x in s.split(",") if x],
        default=[],
        help="comma-separated older git revisions of ilvb to measure too (before → after)",
    )
    p.add_argument(
        "--before-n",
        type=lambda v: [int(x) for x in v.split(",") if x],
        default=[100],
        help="comma-separated subscriber counts for --before runs (each interleaved on its own)",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=2,
        help="interleaved rounds of every fan-out run; the best round (lowest CPU/pkt) is kept",
    )
    p.add_argument("--glass-seconds", type=float, default=15.0)
    p.add_argument("--skip", default="", help="comma-separated: fanout,glass,join")
    opts = p.parse_args(argv)
    skip = set(filter(None, opts.skip.split(",")))
    if os.geteuid() != 0:
        print("run_all needs root (network namespaces, apt-get, SCHED_FIFO)", file=sys.stderr)
        return 2
    ensure_installed()
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "settings": {
            "subscribers": opts.subscribers,
            "seconds": opts.seconds,
            "rt_priority": opts.rt,
            "server_cpu": fanout.SERVER_CPUS,
            "client_cpu": fanout.CLIENT_CPUS,
            "janus_event_loops": 1,
            "rounds": opts.repeat,
            "publisher_pacing": 2.5,
            "ilvb_workers": 1,
        },
        "workloads": {},
    }
    try:
        if "fanout" not in skip:
            results["workloads"]["fanout"] = run_fanout(opts)
        if opts.before:
            results["workloads"]["fanout_before"] = [
                {"subscribers": n, "revisions": run_before(opts, n)} for n in opts.before_n
            ]
        if "glass" not in skip:
            glass = run_glass(opts)
            if glass is not None:
                results["workloads"]["glass_to_glass"] = {"ilvb": glass}
        if "join" not in skip:
            storm = run_join_storm(opts)
            if storm is not None:
                results["workloads"]["join_storm"] = {"ilvb": storm}
    finally:
        stop_all()
    results["ratios"] = compute_ratios(results["workloads"].get("fanout", {}))
    profile = ROOT / "bench" / "out" / f"ilvb_fanout{opts.profile_at}_profile.txt"
    if profile.exists():
        results["ilvb_profile_file"] = str(profile.relative_to(ROOT))
    RESULTS.write_text(json.dumps(results, indent=2, default=str))
    write_report(results, ROOT / "docs" / "benchmarks.md", ROOT / "docs" / "bench")
    print(f"wrote {RESULTS.relative_to(ROOT)} and docs/benchmarks.md")
    r = results["ratios"]
    if "cpu_per_pkt" in r:
        print(
            f"ilvb/janus cpu_per_pkt = {r['cpu_per_pkt']:.2f} "
            f"(N={r['cpu_per_pkt_at_subscribers']}; geometric mean over N "
            f"{r['cpu_per_pkt_geomean']:.2f})"
        )
        for n, v in r["cpu_per_pkt_by_subscribers"].items():
            print(f"  N={n}: ilvb/janus cpu_per_pkt = {v:.2f}")
        for n, v in r.get("added_p50_by_subscribers", {}).items():
            print(f"  N={n}: ilvb/janus added_p50 = {v:.2f}")
    else:
        print("no ratio: a server produced no fan-out figure (see docs/benchmarks.md)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
