"""Join storm: N simulated members enter one room over WebSocket; join latency and server CPU.

    python bench/join_storm.py --members 5000            # starts `ilvb serve --no-media` itself
    python bench/join_storm.py --members 1000 --url http://127.0.0.1:7880 --admin-key KEY
    python bench/join_storm.py --members 5000 --lite-client   # cheaper client: bench/litews.py

Without ``--url`` it starts ``ilvb serve --no-media --port 0`` on an ephemeral data directory,
reads the admin key and the ``ilvb listening on`` line from its output, and ends it (by PID) at
the end. It creates an app through the admin REST API, connects N clients (``hello``), then
``--concurrency`` driver tasks send ``room.enter`` for all of them into one room, timing each
join from sending ``room.enter`` to its response, while every client keeps reading its events
(``members.entered`` batches). After the last join it waits until every client has received an
entry event for every member that entered after it (exactly the number the protocol promises),
then reads the server's CPU time (psutil; delta over the join phase, including the fan-out).

Prints progress every 500 joins and ends with exactly one line::

    members=N join_p50_ms=.. join_p99_ms=.. cpu_ms_per_join=..

and writes the figures to ``bench/out/join_storm.json`` (``--out``), with the client's own event
loop lag, so that stalls of a loaded machine can be told from the server's; ``server_cpu_s`` is
CPU time and does not depend on that. ``--profile`` records the server with
py-spy during the join phase (collapsed stacks in ``bench/out/join_storm_profile.txt``, with the
top frames by self time printed to stderr).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    cpu_seconds,
    percentile,
    read_profile,
    start_pyspy,
    stop_process,
    stop_pyspy,
)
from bench.litews import open_litews  # noqa: E402
from ilvb.auth.tickets import sign_ticket  # noqa: E402

OUT_DIR = Path(__file__).resolve().parent / "out"
LISTENING = re.compile(r"^ilvb listening on (http://\S+)$")
# `ilvb serve` writes a new admin key to a 0600 file and prints the file's path.
ADMIN_KEY_FILE = re.compile(r"^admin key file: (\S+)$")
ROOM = "join-storm"
PROGRESS_EVERY = 500
START_TIMEOUT_S = 120.0
REQUEST_TIMEOUT_S = 120.0


def log(msg: str) -> None:
    """Progress to stdout, flushed (the last stdout line is the result line)."""
    print(msg, flush=True)


# --- the server under test ---------------------------------------------------------------------


@dataclass
class ServerProcess:
    """An ``ilvb serve --no-media`` subprocess on an ephemeral data dir."""

    proc: subprocess.Popen[str]
    data_dir: Path
    url: str
    admin_key: str

    @classmethod
    def start(cls, extra: list[str]) -> ServerProcess:
        """Start the server and wait for its listening line."""
        data_dir = Path(tempfile.mkdtemp(prefix="ilvb-storm-"))
        cmd = [sys.executable, "-m", "ilvb", "serve", "--no-media", "--port", "0"]
        cmd += ["--data-dir", str(data_dir), "--log-level", "warning", *extra]
        stderr = open(data_dir / "server.stderr", "w")  # noqa: SIM115 - closed with the dir
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        lines: collections.deque[str] = collections.deque()
        ready = threading.Event()
        found: dict[str, str] = {}

        def pump() -> None:
            assert proc.stdout is not None
            for line in proc.stdout:
                line = line.rstrip("\n")
                lines.append(line)
                if m := ADMIN_KEY_FILE.match(line):
                    found["key"] = Path(m.group(1)).read_text().strip()
                if m := LISTENING.match(line):
                    found["url"] = m.group(1)
                    ready.set()
            ready.set()

        threading.Thread(target=pump, daemon=True).start()
        if not ready.wait(START_TIMEOUT_S) or "url" not in found or "key" not in found:
            stop_process(proc, sig=signal.SIGKILL)
            err = (data_dir / "server.stderr").read_text()[-3000:]
            shutil.rmtree(data_dir, ignore_errors=True)
            raise SystemExit(f"server did not start: stdout {list(lines)} stderr {err}")
        return cls(proc, data_dir, found["url"], found["key"])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; remove the data dir."""
        stop_process(self.proc, timeout=20)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def find_listener_pid(url: str) -> int | None:
    """The PID of the local process listening on ``url``'s port (for ``--url`` mode)."""
    port = urlparse(url).port
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                return conn.pid
    except psutil.AccessDenied:
        return None
    return None


# --- simulated members ---------------------------------------------------------------------------


@dataclass
class Member:
    """One WebSocket client: a reader task resolves responses and counts entry events."""

    user_id: str
    ws: ClientConnection  # or a LiteWs with the same send/close
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    next_id: int = 0
    entered_seen: int = 0  # members named in members.entered events received
    expected_entered: int | None = None  # members that entered after me
    frames: int = 0
    nbytes: int = 0
    closed: bool = False
    reader: asyncio.Task[None] | None = None
    heartbeat_s: float = 10.0

    async def request(self, type_: str, data: dict[str, Any] | None = None) -> dict[str, Any]:
        """Send a request and wait for its response (an ``error`` reply raises)."""
        self.next_id += 1
        rid = self.next_id
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[rid] = fut
        frame: dict[str, Any] = {"id": rid, "type": type_}
        if data is not None:
            frame["data"] = data
        await self.ws.send(json.dumps(frame))
        reply = await asyncio.wait_for(fut, REQUEST_TIMEOUT_S)
        if reply.get("type") == "error":
            raise RuntimeError(f"{self.user_id} {type_}: {reply.get('error')}")
        return reply.get("data") or {}

    def send_ping(self) -> None:
        """A heartbeat whose response is ignored."""
        self.next_id += 1
        msg = json.dumps({"id": self.next_id, "type": "ping"})
        asyncio.ensure_future(self.ws.send(msg))

    def on_text(self, buf: bytes | bytearray, start: int, end: int) -> None:
        """One text frame ``buf[start:end]``: count entry notices in place, decode the rest."""
        self.frames += 1
        self.nbytes += end - start
        # Fast path: events are compact JSON starting with their type (ilvb.rooms.fanout).
        if buf.startswith(b'{"type":"event"', start, end):
            if buf.find(b'"members.entered"', start, min(end, start + 64)) >= 0:
                self.entered_seen += buf.count(b'"user_id"', start, end)
            return
        msg = json.loads(bytes(buf[start:end]))
        if msg.get("type") == "event":  # any other formatting: counted the slow way
            if msg.get("event") == "members.entered":
                self.entered_seen += len(msg.get("data", {}).get("members", []))
            return
        fut = self.pending.pop(msg.get("id"), None)
        if fut is not None and not fut.done():
            fut.set_result(msg)

    def connection_lost(self) -> None:
        """The socket is gone: fail whatever still waits for a reply."""
        self.closed = True
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(ConnectionError(f"{self.user_id}: connection closed"))

    async def read(self) -> None:
        """(websockets client) Read every frame until the connection ends."""
        try:
            while True:
                frame = await self.ws.recv(decode=False)
                self.on_text(frame, 0, len(frame))
        except Exception:
            self.connection_lost()


async def open_lite(ws_url: str, user_id: str) -> Member:
    """A member on a :class:`bench.litews.LiteWs` connection."""
    proto = await open_litews(ws_url)
    member = Member(user_id, proto)  # type: ignore[arg-type]
    proto.on_text = member.on_text
    proto.on_close = member.connection_lost
    return member


async def connect_member(
    ws_url: str, app_id: str, secret: str, user_id: str, lite: bool = False
) -> Member:
    """Open a connection and say hello (``member.heartbeat_s`` is the server's interval)."""
    if lite:
        member = await open_lite(ws_url, user_id)
    else:
        ws = await connect(ws_url, max_size=None, ping_interval=None, open_timeout=60)
        member = Member(user_id, ws)
        member.reader = asyncio.create_task(member.read())
    welcome = await member.request(
        "hello", {"protocol": 1, "ticket": sign_ticket(app_id, secret, user_id, ttl_s=7200)}
    )
    member.heartbeat_s = float(welcome.get("heartbeat_interval_s", 10.0))
    return member


async def heartbeat(members: list[Member], interval_s: float | None, stop: asyncio.Event) -> None:
    """One task pings every connected member every interval (the server drops silent ones)."""
    while not stop.is_set():
        period = interval_s or (members[0].heartbeat_s if members else 1.0)
        try:
            await asyncio.wait_for(stop.wait(), period)
        except TimeoutError:
            for m in list(members):
                if not m.closed:
                    m.send_ping()


async def loop_lag(samples: list[float], stop: asyncio.Event, period_s: float = 0.05) -> None:
    """How late this (client) event loop wakes up: separates client stalls from server ones."""
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        t = loop.time()
        await asyncio.sleep(period_s)
        samples.append((loop.time() - t - period_s) * 1000)


def thread_cpu(proc: psutil.Process) -> dict[int, float]:
    """CPU seconds per server thread (to tell the event loop from helper threads)."""
    try:
        return {t.id: t.user_time + t.system_time for t in proc.threads()}
    except psutil.NoSuchProcess:
        return {}


async def storm(args: argparse.Namespace, url: str, admin_key: str, pid: int | None) -> dict:
    """Create the app, connect everyone, run the joins, wait for the fan-out; the figures."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as http:
        r = await http.post(
            "/v1/apps", json={"name": "join-storm"}, headers={"X-Admin-Key": admin_key}
        )
        r.raise_for_status()
        app = r.json()
    ws_url = url.replace("http://", "ws://", 1).rstrip("/") + "/ws"
    n = args.members
    members: list[Member] = []
    stop = asyncio.Event()

    # Phase 1: connect and hello (bounded concurrency), not timed as joins.
    # Heartbeats from the start: early connections must not go silent while the rest connect.
    beat = asyncio.create_task(heartbeat(members, args.heartbeat_s, stop))
    t0 = time.perf_counter()
    gate = asyncio.Semaphore(args.connect_concurrency)

    async def open_one(i: int) -> None:
        async with gate:
            members.append(
                await connect_member(
                    ws_url, app["app_id"], app["secret"], f"u{i}", lite=args.lite_client
                )
            )

    await asyncio.gather(*(open_one(i) for i in range(n)))
    connect_s = time.perf_counter() - t0
    log(f"connected {n} clients in {connect_s:.1f} s")

    proc = psutil.Process(pid) if pid else None
    pids = [pid] if pid else []
    profiler = start_profiler(pid) if args.profile and pid else None
    cpu0 = cpu_seconds(pids) if pids else float("nan")
    threads0 = thread_cpu(proc) if proc else {}
    lag_ms: list[float] = []
    lag_task = asyncio.create_task(loop_lag(lag_ms, stop))
    latencies_ms: list[float] = []
    errors: list[str] = []
    buckets: list[dict[str, float]] = []
    queue: asyncio.Queue[Member] = asyncio.Queue()
    for m in members:
        queue.put_nowait(m)
    t_start = time.perf_counter()

    async def driver() -> None:
        while not queue.empty():
            m = queue.get_nowait()
            sent = time.perf_counter()
            try:
                data = await m.request("room.enter", {"room": ROOM})
            except Exception as exc:  # a refused or lost join is a result, not a crash
                errors.append(f"{m.user_id}: {exc}")
                m.expected_entered = 0
                continue
            latencies_ms.append((time.perf_counter() - sent) * 1000)
            # Members that will enter after me = N - (members present when I entered).
            m.expected_entered = n - int(data.get("member_count", 0))
            done = len(latencies_ms) + len(errors)
            if done % PROGRESS_EVERY == 0 or done == n:
                last = latencies_ms[-PROGRESS_EVERY:]
                b = {
                    "joined": done,
                    "p50_ms": round(percentile(last, 50), 2),
                    "p99_ms": round(percentile(last, 99), 2),
                    "elapsed_s": round(time.perf_counter() - t_start, 2),
                }
                buckets.append(b)
                log(
                    f"joined {done}/{n}  last {len(last)}: p50 {b['p50_ms']:.1f} ms"
                    f"  p99 {b['p99_ms']:.1f} ms  elapsed {b['elapsed_s']:.1f} s"
                )

    await asyncio.gather(*(driver() for _ in range(args.concurrency)))
    joins_s = time.perf_counter() - t_start

    # Fan-out: wait until everyone has heard of everyone who entered after them.
    deadline = time.monotonic() + args.drain_timeout_s
    while time.monotonic() < deadline:
        missing = sum(
            max(0, (m.expected_entered or 0) - m.entered_seen) for m in members if not m.closed
        )
        if missing == 0:
            break
        await asyncio.sleep(0.2)
    drain_s = time.perf_counter() - t_start - joins_s
    cpu_s = cpu_seconds(pids) - cpu0 if pids else float("nan")
    threads1 = thread_cpu(proc) if proc else {}
    per_thread = sorted(
        (round(v - threads0.get(k, 0.0), 2) for k, v in threads1.items()), reverse=True
    )
    if profiler is not None:
        stop_profiler(profiler)
    expected = sum(m.expected_entered or 0 for m in members)
    seen = sum(m.entered_seen for m in members)
    frames = sum(m.frames for m in members)
    received_mb = sum(m.nbytes for m in members) / 1e6
    exact = not errors and all(m.entered_seen == m.expected_entered for m in members)
    if errors:
        log(f"{len(errors)} joins failed, e.g. {errors[0]}")
    log(
        f"fan-out: {seen}/{expected} entry notices delivered"
        f" ({'exact' if exact else 'NOT exact'}), drained {drain_s:.1f} s after the last join;"
        f" closed connections: {sum(m.closed for m in members)}"
    )
    stop.set()
    beat.cancel()
    lag_task.cancel()
    await asyncio.gather(*(close_member(m) for m in members))
    return {
        "members": n,
        "join_p50_ms": round(percentile(latencies_ms, 50), 2),
        "join_p99_ms": round(percentile(latencies_ms, 99), 2),
        "join_max_ms": round(max(latencies_ms), 2),
        "cpu_ms_per_join": round(cpu_s * 1000 / n, 3),
        "server_cpu_s": round(cpu_s, 2),
        "concurrency": args.concurrency,
        "client": "lite" if args.lite_client else "websockets",
        "connect_s": round(connect_s, 2),
        "joins_s": round(joins_s, 2),
        "joins_per_s": round(n / joins_s, 1),
        "fanout_drain_s": round(drain_s, 2),
        "entry_notices_expected": expected,
        "entry_notices_seen": seen,
        "entry_notices_exact": exact,
        "join_errors": len(errors),
        "join_error_samples": errors[:5],
        "frames_received": frames,
        "mb_received": round(received_mb, 1),
        "buckets": buckets,
        "server_thread_cpu_s": per_thread[:5],
        "client_cpu_s": round(sum(os.times()[:2]), 2),
        "client_loop_lag_p99_ms": round(percentile(lag_ms, 99), 1),
        "client_loop_lag_max_ms": round(max(lag_ms, default=0.0), 1),
    }


async def close_member(m: Member) -> None:
    """Close quickly; a busy server may not answer the close handshake."""
    try:
        await asyncio.wait_for(m.ws.close(), 5)
    except Exception:
        m.ws.transport.abort()


# --- profiling ------------------------------------------------------------------------------


PROFILE = OUT_DIR / "join_storm_profile.txt"


def start_profiler(pid: int) -> subprocess.Popen[bytes] | None:
    """py-spy record (collapsed stacks, GIL-holding samples) on the server PID until stopped."""
    proc = start_pyspy(pid, PROFILE, rate=100, gil=True)
    if proc is None:
        print("py-spy not found; no profile", file=sys.stderr)
    return proc


def stop_profiler(p: subprocess.Popen[bytes]) -> None:
    """Stop py-spy and print the hottest frames (self time, then ilvb frames inclusive)."""
    stop_pyspy(p)
    prof = read_profile(PROFILE)
    if prof is None:
        return
    print(f"py-spy: {prof.samples} samples; top self time:", file=sys.stderr)
    for frame, pct in prof.top("self", 15):
        print(f"  {pct:5.1f}%  {frame}", file=sys.stderr)
    print("top inclusive (ilvb frames):", file=sys.stderr)
    for frame, pct in prof.top("total", 15, keep=lambda f: "ilvb" in f):
        print(f"  {pct:5.1f}%  {frame}", file=sys.stderr)


# --- main -------------------------------------------------------------------------------------


def raise_fd_limit(needed: int) -> None:
    """Raise the soft open-files limit (this process and the server it starts)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--members", type=int, default=5000)
    p.add_argument("--url", help="a running server (default: start one)")
    p.add_argument("--admin-key", help="with --url: the server's admin key")
    p.add_argument("--server-pid", type=int, help="with --url: the server PID (for CPU)")
    p.add_argument("--concurrency", type=int, default=20, help="joins in flight at once")
    p.add_argument("--connect-concurrency", type=int, default=100)
    p.add_argument("--heartbeat-s", type=float, default=None, help="default: the server's")
    p.add_argument("--drain-timeout-s", type=float, default=300.0)
    p.add_argument("--profile", action="store_true", help="py-spy record the server")
    p.add_argument(
        "--lite-client",
        action="store_true",
        help="a minimal in-place WebSocket client instead of the websockets library (cheaper)",
    )
    p.add_argument(
        "--out", type=Path, default=OUT_DIR / "join_storm.json", help="where the JSON goes"
    )
    p.add_argument("--serve-arg", action="append", default=[], help="extra `ilvb serve` args")
    args = p.parse_args(argv)
    if args.members < 1 or args.concurrency < 1 or args.connect_concurrency < 1:
        p.error("--members and the concurrencies must be >= 1")
    if args.url and not args.admin_key:
        p.error("--url needs --admin-key")
    return args


def main(argv: list[str] | None = None) -> None:
    """Run the storm and print the result line."""
    args = parse_args(argv)
    raise_fd_limit(2 * args.members + 1024)
    server = None
    try:
        if args.url:
            url, key = args.url.rstrip("/"), args.admin_key
            pid = args.server_pid or find_listener_pid(url)
        else:
            server = ServerProcess.start(args.serve_arg)
            url, key, pid = server.url, server.admin_key, server.proc.pid
            log(f"server pid {pid} at {url}")
        try:
            import uvloop

            result = uvloop.run(storm(args, url, key, pid))
        except ImportError:
            result = asyncio.run(storm(args, url, key, pid))
    finally:
        if server is not None:
            server.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"members={result['members']} join_p50_ms={result['join_p50_ms']:.1f}"
        f" join_p99_ms={result['join_p99_ms']:.1f} cpu_ms_per_join={result['cpu_ms_per_join']:.2f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
