"""What every benchmark shares: the one percentile, child processes, CPU time, py-spy.

Every p50/p95/p99 in a benchmark report is computed by :func:`percentile` (nearest rank, see
there), every process a benchmark starts is stopped by :func:`stop_process` (and, if it was
registered with :func:`track`, at exit), CPU time is read by :func:`cpu_split`, and py-spy is
run and summarised by :func:`start_pyspy` / :func:`summarize_profile`.
"""

from __future__ import annotations

import atexit
import contextlib
import math
import shutil
import signal
import subprocess
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# --------------------------------------------------------------------------- percentile


def percentile(values: Iterable[float], p: float) -> float:
    """The ``p``-th percentile (``p`` in 0..100) of ``values`` by the nearest-rank method.

    Sort the n values; the result is the value of rank ``ceil(p / 100 × n)`` (1-based, at least
    1): the smallest sample such that at least p % of the samples are ≤ it. It is always one of
    the samples (no interpolation), so p100 is the maximum and p0 the minimum. NaN when empty.
    ``values`` need not be sorted.
    """
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    if not 0.0 <= p <= 100.0:
        raise ValueError(f"percentile {p} is outside 0..100")
    rank = max(1, math.ceil(p / 100.0 * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


# --------------------------------------------------------------------------- processes

_TRACKED: list[subprocess.Popen[Any]] = []


def track(proc: subprocess.Popen[Any]) -> subprocess.Popen[Any]:
    """Remember ``proc`` so that it is stopped when this interpreter exits; returns it."""
    _TRACKED.append(proc)
    return proc


def stop_process(
    proc: subprocess.Popen[Any], timeout: float = 5.0, sig: int = signal.SIGTERM
) -> int | None:
    """Stop a process this benchmark started, by its PID: ``sig`` (SIGTERM; SIGINT for py-spy,
    which writes its output then), wait ``timeout`` s, then SIGKILL. Idempotent; forgets the
    process if it was tracked. Returns its exit code."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout)
    with contextlib.suppress(ValueError):
        _TRACKED.remove(proc)
    return proc.returncode


@atexit.register
def stop_all() -> None:
    """Stop every tracked process still running (also run at interpreter exit)."""
    for proc in list(_TRACKED):
        stop_process(proc)


def run_child(cmd: Sequence[str], limit_s: float, **popen: Any) -> tuple[int, str, str]:
    """Run ``cmd`` to completion as a tracked child; stop it if it overruns ``limit_s``.

    Returns ``(returncode, stdout, stderr)`` as text; an overrun appends a note to stderr.
    ``popen`` is passed to :class:`subprocess.Popen` (``cwd``, ``env``).
    """
    proc = track(
        subprocess.Popen(
            list(cmd), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen
        )
    )
    try:
        out, err = proc.communicate(timeout=limit_s)
    except subprocess.TimeoutExpired:
        stop_process(proc, timeout=15)
        out, err = proc.communicate()
        err += f"\n(stopped after {limit_s:.0f} s)"
    finally:
        stop_process(proc)
    return proc.returncode, out, err


# --------------------------------------------------------------------------- CPU time


def cpu_split(pids: Iterable[int]) -> tuple[float, float]:
    """(user, system) CPU seconds, all threads, of ``pids`` and all their descendants (each
    process counted once; processes that ended are skipped)."""
    import psutil  # type: ignore[import-untyped]

    user = system = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                user += t.user
                system += t.system
    return user, system


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU seconds of ``pids`` and their descendants (see :func:`cpu_split`)."""
    user, system = cpu_split(pids)
    return user + system


# --------------------------------------------------------------------------- py-spy


def start_pyspy(
    pid: int,
    out: Path,
    *,
    seconds: float | None = None,
    rate: int = 100,
    gil: bool = False,
    prefix: Sequence[str] = (),
) -> subprocess.Popen[bytes] | None:
    """``py-spy record`` process ``pid`` into ``out`` (collapsed stacks, ``-f raw``), for
    ``seconds`` or until :func:`stop_pyspy`. ``prefix`` wraps the command (``taskset``/``chrt``).
    None (and a note on stderr by the caller) when py-spy is not installed. Tracked."""
    exe = shutil.which("py-spy")
    if exe is None:
        return None
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [*prefix, exe, "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(out)]
    if seconds is not None:
        cmd += ["-d", str(max(1, int(seconds))), "--nonblocking"]
    if gil:
        cmd.append("--gil")
    return track(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))


def stop_pyspy(proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    """End a py-spy started without ``seconds``: SIGINT makes it write its output."""
    stop_process(proc, timeout=timeout, sig=signal.SIGINT)


@dataclass
class Profile:
    """py-spy collapsed stacks, counted: samples per frame as leaf (self) and anywhere (total)."""

    samples: int
    self_counts: Counter[str]
    total_counts: Counter[str]

    def top(
        self, kind: str = "self", n: int = 20, keep: Callable[[str], bool] | None = None
    ) -> list[tuple[str, float]]:
        """The ``n`` frames with most ``kind`` (``self``/``total``) samples, as % of all
        samples; ``keep`` filters frames first."""
        counts = self.self_counts if kind == "self" else self.total_counts
        ranked = [(f, c) for f, c in counts.most_common() if keep is None or keep(f)]
        return [(f, 100.0 * c / self.samples) for f, c in ranked[:n]]


def read_profile(raw: Path) -> Profile | None:
    """Parse py-spy's collapsed stacks (``frame;frame;… count`` lines); None when absent/empty."""
    if not raw.exists():
        return None
    self_counts: Counter[str] = Counter()
    total_counts: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or not n.isdigit():
            continue
        count = int(n)
        samples += count
        frames = stack.split(";")
        self_counts[frames[-1]] += count
        for f in set(frames):
            total_counts[f] += count
    return Profile(samples, self_counts, total_counts) if samples else None


def summarize_profile(raw: Path, top: int = 20) -> dict[str, list[tuple[str, float]]]:
    """Top frames by self and by total share of samples; also written next to ``raw`` as
    ``<name>.top.txt``. Empty when there is no profile."""
    prof = read_profile(raw)
    if prof is None:
        return {}
    result = {"self": prof.top("self", top), "total": prof.top("total", top)}
    lines = [f"py-spy samples: {prof.samples}", "", "top frames by self time (% of samples):"]
    lines += [f"{pct:6.1f}%  {f}" for f, pct in result["self"]]
    lines += ["", "top frames by total time (% of samples):"]
    lines += [f"{pct:6.1f}%  {f}" for f, pct in result["total"]]
    raw.with_suffix(".top.txt").write_text("\n".join(lines) + "\n")
    return result
