"""Fan-out benchmark: 1 publisher (640×480 VP8 ~30 fps + Opus) → N non-decoding subscribers.

    python bench/fanout.py --subscribers N --seconds S [--server ilvb|janus] [--json out.json]
                           [--rt 10] [--profile out.txt] [--ilvb-src DIR]

The orchestrator creates a network namespace (``bench.netns``), starts the server in it pinned
to CPU 0 and the clients (publisher + N subscribers, ``bench.liteclient``, one process) pinned to
CPU 1, and deletes everything afterwards. ilvb runs as ``create_media_plane`` (one worker) behind
``bench/ilvb_server.py``; Janus as its videoroom plugin (``bench/janus.py``).

It prints the SFU's CPU µs per forwarded packet (CPU time of the server process and its
descendants ÷ packets delivered to subscribers in the window), the server's CPU %, delivered /
expected packets (every packet carries a tag, so delivery is counted per packet sent in the
window), and the SFU-added latency: the kernel's receive time at the subscriber's socket − the
publisher's send time (same monotonic clock), minus the median of a direct publisher →
subscriber baseline with the same client code (no SFU). The publisher paces video at 2.5× its
bitrate like a browser (``--pacing 0``: whole frames in one burst).

On a busy machine the wake-up delay of a mostly idle server adds milliseconds to every packet;
``--rt 10`` runs server and clients SCHED_FIFO (root) so the latency is the SFU's own.
``--profile`` records the ilvb worker with py-spy during the window. The last line is::

    subscribers=N cpu_us_per_pkt=.. delivered_ratio=.. added_p50_ms=.. added_p99_ms=..
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Protocol

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    cpu_split,
    percentile,
    start_pyspy,
    stop_process,
    summarize_profile,
    track,
)
from bench.netns import NetNs  # noqa: E402

SERVER_CPUS = "0"
CLIENT_CPUS = "1"
WARMUP_S = 2.0
GRACE_S = 0.7
BASELINE_S = 3.0
JOIN_CONCURRENCY = 8

# --------------------------------------------------------------------------- client side


class SignalingAdapter(Protocol):
    """How the clients talk to one server under test."""

    async def setup(self) -> None: ...

    async def publish(self, offer_sdp: str) -> str: ...

    async def subscribe(self, index: int) -> str: ...

    async def answer(self, index: int, answer_sdp: str) -> None: ...

    async def close(self) -> None: ...


class JanusAdapter:
    """Videoroom: one room, the publisher's feed, one subscriber handle per subscriber."""

    def __init__(self, url: str) -> None:
        from bench.janus import JanusApi

        self.api = JanusApi(url)
        self.feed = 0
        self.handles: dict[int, int] = {}

    async def setup(self) -> None:
        await self.api.wait_ready()
        await self.api.create_session()
        self.pub_handle = await self.api.attach()
        await self.api.create_room(self.pub_handle)

    async def publish(self, offer_sdp: str) -> str:
        self.feed, answer = await self.api.publish(self.pub_handle, offer_sdp)
        return answer

    async def subscribe(self, index: int) -> str:
        handle = await self.api.attach()
        self.handles[index] = handle
        return await self.api.subscribe(handle, self.feed)

    async def answer(self, index: int, answer_sdp: str) -> None:
        await self.api.start(self.handles[index], answer_sdp)

    async def close(self) -> None:
        await self.api.close()


class IlvbAdapter:
    """ilvb's MediaPlane API in a dedicated server process, over JSON lines on TCP."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._lock = asyncio.Lock()

    async def call(self, method: str, **params: Any) -> Any:
        """One request/response on the RPC connection."""
        assert self._reader and self._writer
        async with self._lock:
            self._writer.write(json.dumps({"method": method, "params": params}).encode() + b"\n")
            await self._writer.drain()
            line = await asyncio.wait_for(self._reader.readline(), 60)
        reply = json.loads(line)
        if "error" in reply:
            raise RuntimeError(f"ilvb {method}: {reply['error']}")
        return reply.get("result")

    async def setup(self) -> None:
        deadline = time.monotonic() + 30
        while True:
            try:
                self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.2)
        await self.call("open_router", room_id="bench")

    async def publish(self, offer_sdp: str) -> str:
        return str(
            await self.call(
                "negotiate_send",
                member_id="pub",
                offer_sdp=offer_sdp,
                sources={"0": "microphone", "1": "camera"},
            )
        )

    async def subscribe(self, index: int) -> str:
        return str(
            await self.call("offer_receive", member_id=f"s{index}", audio_slots=1, video_slots=1)
        )

    async def answer(self, index: int, answer_sdp: str) -> None:
        await self.call("accept_receive_answer", member_id=f"s{index}", answer_sdp=answer_sdp)
        await self.call(
            "set_subscription", member_id=f"s{index}", audio_from=["pub"], views=[["pub", "camera"]]
        )

    async def stats(self) -> Any:
        return await self.call("stats")

    async def close(self) -> None:
        if self._writer:
            self._writer.close()


async def _baseline(clip: Any, seconds: float = BASELINE_S) -> list[float]:
    """Latencies (ms) publisher → subscriber without an SFU, same client path."""
    from bench.liteclient import connect_pair
    from bench.litemedia import SendLog

    log = SendLog()
    pub, sub, a, b = await connect_pair(clip, log)
    try:
        await pub.run(seconds)
        await asyncio.sleep(0.2)
    finally:
        await a.close()
        await b.close()
    return sorted(
        (arr - log.times[tag]) * 1e3 for tag, arr in zip(sub.tags, sub.arrivals, strict=True)
    )


async def run_clients(args: argparse.Namespace) -> dict[str, Any]:
    """Everything the client process does; returns the figures as a dict."""
    from bench.liteclient import LitePeer, LitePublisher, LiteSubscriber, use_only_address
    from bench.litemedia import SendLog, encode_clip
    from bench.litesdp import build_publish_offer, build_receive_answer, parse_remote

    use_only_address(args.client_ip)
    clip = encode_clip()
    baseline = await _baseline(clip, args.baseline_s)

    adapter: SignalingAdapter
    if args.server == "janus":
        adapter = JanusAdapter(args.janus_url)
    else:
        host, port = args.rpc.rsplit(":", 1)
        adapter = IlvbAdapter(host, int(port))
    peers: list[LitePeer] = []
    log = SendLog()
    t_setup = time.monotonic()
    await adapter.setup()

    # Publisher.
    ppeer = LitePeer(controlling=True)
    peers.append(ppeer)
    local = await ppeer.gather("actpass")
    pub = LitePublisher(ppeer, clip, log, pacing_factor=args.pacing)
    answer = await adapter.publish(build_publish_offer(local, pub.audio_ssrc, pub.video_ssrc))
    print("publisher answer:\n" + answer, file=sys.stderr)
    remote = parse_remote(answer)
    pub.configure(remote)
    await ppeer.connect(remote, dtls_client=(remote.setup == "passive"))
    pub_task = asyncio.create_task(pub.run(10_000))

    # Subscribers.
    subs: list[LiteSubscriber] = []
    sem = asyncio.Semaphore(JOIN_CONCURRENCY)
    join_times: list[float] = []

    async def join(i: int) -> None:
        async with sem:
            t0 = time.monotonic()
            offer = await adapter.subscribe(i)
            if i == 0:
                print("subscriber offer:\n" + offer, file=sys.stderr)
            rem = parse_remote(offer)
            peer = LitePeer(controlling=rem.ice_lite)
            peers.append(peer)
            loc = await peer.gather("active")
            sub = LiteSubscriber(peer)
            subs.append(sub)
            await adapter.answer(i, build_receive_answer(loc, offer))
            await peer.connect(rem, dtls_client=True)
            join_times.append(time.monotonic() - t0)

    await asyncio.gather(*(join(i) for i in range(args.subscribers)))
    setup_s = time.monotonic() - t_setup
    await asyncio.sleep(args.warmup_s)

    # Measurement window.
    pids = [int(p) for p in args.server_pids.split(",") if p]
    t0, (u0, s0) = time.monotonic(), cpu_split(pids)
    print(json.dumps({"event": "window", "seconds": args.seconds}), flush=True)
    await asyncio.sleep(args.seconds)
    t1, (u1, s1) = time.monotonic(), cpu_split(pids)
    c0, c1 = u0 + s0, u1 + s1
    await asyncio.sleep(GRACE_S)
    pub_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await pub_task
    server_stats = await adapter.stats() if isinstance(adapter, IlvbAdapter) else None

    window = log.tags_between(t0, t1)
    lo, hi = window.start, window.stop
    expected_per_sub = hi - lo
    n_video = sum(log.kinds[lo:hi])
    delivered = 0
    lat: list[float] = []
    lat_kind: tuple[list[float], list[float]] = ([], [])
    late: list[tuple[float, float]] = []
    kinds = log.kinds
    per_sub: list[int] = []
    per_sub_p50: list[float] = []
    times = log.times
    for sub in subs:
        mine: list[float] = []
        got = 0
        seen: set[int] = set()
        for tag, arr in zip(sub.tags, sub.arrivals, strict=True):
            if lo <= tag < hi and tag not in seen:
                seen.add(tag)
                got += 1
                ms = (arr - times[tag]) * 1e3
                lat.append(ms)
                mine.append(ms)
                lat_kind[kinds[tag]].append(ms)
                if ms > 50 and len(late) < 200:
                    late.append((round(times[tag] - t0, 3), round(ms, 1)))
        per_sub.append(got)
        per_sub_p50.append(round(percentile(sorted(mine), 50), 3))
        delivered += got
    lat.sort()
    expected = expected_per_sub * len(subs)
    base50 = percentile(baseline, 50)
    cpu_s = c1 - c0
    result: dict[str, Any] = {
        "server": args.server,
        "subscribers": args.subscribers,
        "connected_subscribers": len(subs),
        "seconds": t1 - t0,
        "publisher_pkts_per_s": expected_per_sub / (t1 - t0),
        "publisher_video_pkts": n_video,
        "publisher_audio_pkts": expected_per_sub - n_video,
        "video_bitrate_kbps": clip.video_bitrate_bps / 1e3,
        "pacing_factor": args.pacing,
        "rt_priority": args.rt,
        "expected_pkts": expected,
        "delivered_pkts": delivered,
        "delivered_ratio": delivered / expected if expected else 0.0,
        "min_sub_delivered_ratio": (min(per_sub) / expected_per_sub)
        if per_sub and expected_per_sub
        else 0.0,
        "forwarded_pkts_per_s": delivered / (t1 - t0),
        "server_cpu_s": cpu_s,
        "server_cpu_pct": 100.0 * cpu_s / (t1 - t0),
        "cpu_us_per_pkt": 1e6 * cpu_s / delivered if delivered else float("nan"),
        "user_us_per_pkt": 1e6 * (u1 - u0) / delivered if delivered else float("nan"),
        "system_us_per_pkt": 1e6 * (s1 - s0) / delivered if delivered else float("nan"),
        "latency_p50_ms": percentile(lat, 50),
        "latency_p99_ms": percentile(lat, 99),
        "latency_p90_ms": percentile(lat, 90),
        "latency_p999_ms": percentile(lat, 99.9),
        "audio_latency_p99_ms": percentile(sorted(lat_kind[0]), 99),
        "video_latency_p99_ms": percentile(sorted(lat_kind[1]), 99),
        "late_over_50ms": sum(1 for x in lat if x > 50),
        "late_samples": late[:40],
        "per_subscriber_p50_ms": per_sub_p50,
        "baseline_p50_ms": base50,
        "baseline_p99_ms": percentile(baseline, 99),
        "added_p50_ms": percentile(lat, 50) - base50,
        "added_p99_ms": percentile(lat, 99) - base50,
        "setup_s": setup_s,
        "join_p50_s": percentile(sorted(join_times), 50),
        "keyframe_requests": pub.keyframe_requests,
        "srtp_errors": sum(p.srtp_errors for p in peers),
        "server_stats": server_stats,
    }
    await adapter.close()
    await asyncio.gather(*(p.close() for p in peers), return_exceptions=True)
    return result


# --------------------------------------------------------------------------- orchestrator


def _ilvb_env(args: argparse.Namespace) -> dict[str, str]:
    """The ilvb server's environment; ``--ilvb-src`` puts another source tree first (its media
    worker processes inherit it)."""
    src = getattr(args, "ilvb_src", None)
    if not src:
        return {**os.environ, "PYTHONPATH": str(ROOT)}
    return {**os.environ, "PYTHONPATH": f"{src}{os.pathsep}{ROOT}", "ILVB_BENCH_SRC": str(src)}


def _start_server(
    args: argparse.Namespace, ns: NetNs, tmp: Path
) -> tuple[subprocess.Popen[Any], list[str]]:
    """Start the server under test inside ``ns``; returns the process and client arguments."""
    if args.server == "janus":
        from bench.janus import HTTP_PORT, janus_command, write_config

        cfg = write_config(
            tmp / "janus",
            ice_interface="va",
            debug_level=args.janus_debug,
            event_loops=args.janus_event_loops,
        )
        proc = ns.popen(
            janus_command(cfg, tmp / "janus.log"),
            cpus=SERVER_CPUS,
            nice=args.nice,
            rt=args.rt,
            stdout=subprocess.DEVNULL,
            stderr=open(tmp / "janus.err", "w"),
        )
        return proc, ["--janus-url", f"http://127.0.0.1:{HTTP_PORT}/janus"]
    port = 7999
    cmd = [
        sys.executable,
        str(ROOT / "bench" / "ilvb_server.py"),
        "--bind-ip",
        ns.server_ip,
        "--rpc-port",
        str(port),
        "--workers",
        str(args.workers),
    ]
    proc = ns.popen(
        cmd,
        cpus=SERVER_CPUS,
        nice=args.nice,
        rt=args.rt,
        stdout=open(tmp / "ilvb.log", "w"),
        stderr=subprocess.STDOUT,
        env=_ilvb_env(args),
    )
    return proc, ["--rpc", f"127.0.0.1:{port}"]


def _read_clients(
    clients: subprocess.Popen[Any], limit: float, args: argparse.Namespace, server_pid: int
) -> str:
    """Collect the clients' stdout; start py-spy when the window opens (``--profile``)."""
    timer = threading.Timer(limit, lambda: stop_process(clients))
    timer.start()
    lines: list[str] = []
    spy: subprocess.Popen[Any] | None = None
    try:
        assert clients.stdout is not None
        for line in clients.stdout:
            lines.append(line)
            if line.startswith('{"event": "window"') and getattr(args, "profile", None):
                spy = start_profiler(server_pid, args.seconds, Path(args.profile), args.rt)
        clients.wait()
    finally:
        timer.cancel()
        if spy is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                spy.wait(args.seconds + 30)  # it ends by itself after the window
            stop_process(spy)
            summarize_profile(Path(args.profile))
    if clients.returncode is not None and clients.returncode < 0:
        raise RuntimeError(f"clients did not finish within {limit:.0f} s")
    return "".join(lines)


def _worker_pids(server_pid: int) -> list[int]:
    """The SFU worker processes under the server (or the server itself)."""
    import psutil  # type: ignore[import-untyped]

    try:
        root = psutil.Process(server_pid)
        kids = [
            p.pid
            for p in root.children(recursive=True)
            if "ilvb.sfu.worker" in " ".join(p.cmdline())
        ]
    except psutil.NoSuchProcess:
        return []
    return kids or [server_pid]


def start_profiler(
    server_pid: int, seconds: float, out: Path, rt: int = 0
) -> subprocess.Popen[Any] | None:
    """``py-spy record`` the first SFU worker for ``seconds`` into ``out`` (collapsed stacks)."""
    pids = _worker_pids(server_pid)
    if not pids:
        return None
    # py-spy runs on the clients' core above the bench's priority, or it gets too little CPU
    # time to sample a SCHED_FIFO target.
    prefix = ["taskset", "-c", CLIENT_CPUS]
    if rt:
        prefix = ["chrt", "-f", str(rt + 1), *prefix]
    return start_pyspy(pids[0], out, seconds=seconds, rate=200, prefix=prefix)


LOCK_FILE = Path(tempfile.gettempdir()) / "ilvb-bench.lock"


@contextlib.contextmanager
def bench_lock() -> Any:
    """One benchmark run at a time on this machine: runs pin the same CPUs at the same
    priority, so two at once would measure each other."""
    import fcntl

    with open(LOCK_FILE, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print("waiting for another benchmark run on this machine to end ...", flush=True)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Orchestrate one fan-out run and return its figures (raises on failure)."""
    with bench_lock():
        return _run_locked(args)


def _run_locked(args: argparse.Namespace) -> dict[str, Any]:
    ns = NetNs()
    server: subprocess.Popen[Any] | None = None
    clients: subprocess.Popen[Any] | None = None
    with tempfile.TemporaryDirectory(prefix="ilvb-bench-") as tmpdir:
        tmp = Path(tmpdir)
        try:
            ns.create()
            server, extra = _start_server(args, ns, tmp)
            track(server)
            cmd = [
                sys.executable,
                str(Path(__file__).resolve()),
                "--role",
                "clients",
                "--server",
                args.server,
                "--subscribers",
                str(args.subscribers),
                "--seconds",
                str(args.seconds),
                "--pacing",
                str(args.pacing),
                "--rt",
                str(args.rt),
                "--baseline-s",
                str(getattr(args, "baseline_s", BASELINE_S)),
                "--warmup-s",
                str(getattr(args, "warmup_s", WARMUP_S)),
                "--client-ip",
                ns.server_ip,
                "--server-pids",
                str(server.pid),
                *extra,
            ]
            clients = ns.popen(
                cmd,
                cpus=CLIENT_CPUS,
                nice=args.nice,
                rt=args.rt,
                stdout=subprocess.PIPE,
                stderr=open(tmp / "clients.log", "w"),
                text=True,
                env={**os.environ, "PYTHONPATH": str(ROOT)},
            )
            track(clients)
            limit = 120 + args.seconds + 2 * args.subscribers
            out = _read_clients(clients, limit, args, server.pid)
            if server.poll() is not None:
                raise RuntimeError(f"{args.server} exited early (rc {server.returncode})")
            if args.keep_logs:
                for f in tmp.glob("*.[le][or][gr]"):
                    (Path(args.keep_logs) / f.name).write_text(f.read_text())
            lines = [ln for ln in out.splitlines() if ln.startswith('{"server"')]
            if clients.returncode != 0 or not lines:
                tail = (tmp / "clients.log").read_text()[-3000:]
                srv = tmp / ("janus.log" if args.server == "janus" else "ilvb.log")
                stail = srv.read_text()[-2000:] if srv.exists() else ""
                raise RuntimeError(
                    f"clients failed (rc {clients.returncode}):\n{tail}\n"
                    f"--- server log tail:\n{stail}"
                )
            return json.loads(lines[-1])
        finally:
            for proc in (clients, server):
                if proc is not None:
                    stop_process(proc)
            ns.delete()


def summary_line(r: dict[str, Any]) -> str:
    """The one-line summary the issue asks for."""
    return (
        f"subscribers={r['subscribers']} cpu_us_per_pkt={r['cpu_us_per_pkt']:.2f} "
        f"delivered_ratio={r['delivered_ratio']:.4f} added_p50_ms={r['added_p50_ms']:.3f} "
        f"added_p99_ms={r['added_p99_ms']:.3f}"
    )


def print_report(r: dict[str, Any]) -> None:
    """Human-readable figures, then the summary line."""
    print(
        f"server: {r['server']}  subscribers: {r['connected_subscribers']}/{r['subscribers']}  "
        f"window: {r['seconds']:.1f} s  setup: {r['setup_s']:.1f} s"
    )
    print(
        f"publisher: {r['publisher_pkts_per_s']:.0f} pkt/s "
        f"(VP8 640x480 ~30 fps {r['video_bitrate_kbps']:.0f} kbit/s + Opus 20 ms)"
    )
    print(
        f"SFU CPU: {r['cpu_us_per_pkt']:.2f} us per forwarded packet (user "
        f"{r.get('user_us_per_pkt', float('nan')):.2f} + kernel "
        f"{r.get('system_us_per_pkt', float('nan')):.2f}), "
        f"{r['server_cpu_pct']:.1f} % of a core, {r['forwarded_pkts_per_s']:.0f} pkt/s out"
    )
    print(
        f"delivered / expected: {r['delivered_pkts']} / {r['expected_pkts']} = "
        f"{r['delivered_ratio']:.4f} (worst subscriber {r['min_sub_delivered_ratio']:.4f})"
    )
    print(
        f"latency send->arrival p50 {r['latency_p50_ms']:.3f} ms p99 {r['latency_p99_ms']:.3f} ms;"
        f" no-SFU baseline p50 {r['baseline_p50_ms']:.3f} ms p99 {r['baseline_p99_ms']:.3f} ms"
    )
    print(f"SFU-added latency p50 {r['added_p50_ms']:.3f} ms p99 {r['added_p99_ms']:.3f} ms")
    if not r.get("rt_priority"):
        print("(latency includes this busy machine's scheduling delays; --rt 10 removes them)")
    print(summary_line(r))


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--subscribers", type=int, default=10)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--server", choices=["ilvb", "janus"], default="ilvb")
    p.add_argument("--workers", type=int, default=1, help="ilvb media workers")
    p.add_argument(
        "--ilvb-src",
        type=Path,
        help="measure the ilvb package found in this directory (e.g. an older commit's tree)",
    )
    p.add_argument(
        "--rt",
        type=int,
        default=0,
        help="run server and clients SCHED_FIFO at this priority (0 = off): removes the "
        "scheduling noise of a busy machine from the latency figures",
    )
    p.add_argument(
        "--pacing",
        type=float,
        default=2.5,
        help="publisher pacing rate in multiples of the video bitrate (0 = frame bursts)",
    )
    p.add_argument("--baseline-s", type=float, default=BASELINE_S, help=argparse.SUPPRESS)
    p.add_argument("--warmup-s", type=float, default=WARMUP_S, help=argparse.SUPPRESS)
    p.add_argument("--profile", type=Path, help="py-spy the ilvb worker in the window")
    p.add_argument("--json", type=Path, help="also write the figures to this file")
    p.add_argument("--janus-debug", type=int, default=3)
    p.add_argument(
        "--janus-event-loops",
        type=int,
        default=1,
        help="Janus static event loops (0 = Janus's default, a loop thread per handle; 1 is "
        "faster on the one core Janus is pinned to)",
    )
    p.add_argument(
        "--nice",
        type=int,
        default=-10,
        help="nice increment of server and clients (same for both servers)",
    )
    p.add_argument("--keep-logs", default="", help="copy server/client logs to this folder")
    # Internal: the client process.
    p.add_argument("--role", choices=["orchestrator", "clients"], default="orchestrator")
    p.add_argument("--client-ip", default="127.0.0.1")
    p.add_argument("--server-pids", default="")
    p.add_argument("--janus-url", default="")
    p.add_argument("--rpc", default="")
    args = p.parse_args(argv)
    if args.subscribers < 1 or args.seconds <= 0:
        p.error("--subscribers must be >= 1 and --seconds > 0")
    if args.role == "clients":
        if os.environ.get("BENCH_DEBUG"):
            import logging

            logging.basicConfig(level=logging.DEBUG, stream=sys.stderr)
        result = asyncio.run(run_clients(args))
        print(json.dumps(result))
        return 0
    result = run(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
