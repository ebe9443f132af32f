"""A throw-away network namespace for benchmarks.

Janus skips loopback when it gathers ICE candidates, so the benchmarks run the servers and their
clients inside a namespace of their own: a veth pair whose *both* ends live in the namespace,
with private addresses (``10.x``) that exist only there. Nothing is routed out of it.

Janus (libnice) binds its sockets to the interface, and a packet sent from ``va`` to ``vb``'s
address would need ARP for an address that is local (the kernel refuses), so clients use
``server_ip`` as well: traffic between two sockets on ``va``'s address is delivered locally.

``with NetNs() as ns: ns.popen([...])`` creates it and always deletes it afterwards.
"""

from __future__ import annotations

import atexit
import os
import subprocess
from collections.abc import Sequence
from typing import Any

_LIVE: set[str] = set()


def _run(cmd: Sequence[str]) -> None:
    subprocess.run(list(cmd), check=True, capture_output=True, text=True)


class NetNs:
    """One namespace ``name`` with ``lo`` up and a veth pair ``va`` (``server_ip``) / ``vb``."""

    def __init__(self, name: str | None = None, subnet: int | None = None) -> None:
        pid = os.getpid()
        self.name = name or f"ilvbbench{pid}"
        octet = subnet if subnet is not None else 100 + pid % 100
        self.server_ip = f"10.231.{octet}.1"
        self.client_ip = f"10.231.{octet}.2"
        self.created = False

    def create(self) -> NetNs:
        """Create the namespace, the veth pair inside it and their addresses."""
        _run(["ip", "netns", "add", self.name])
        self.created = True
        _LIVE.add(self.name)
        ex = ["ip", "netns", "exec", self.name]
        _run([*ex, "ip", "link", "set", "lo", "up"])
        _run([*ex, "ip", "link", "add", "va", "type", "veth", "peer", "name", "vb"])
        _run([*ex, "ip", "addr", "add", f"{self.server_ip}/24", "dev", "va"])
        _run([*ex, "ip", "addr", "add", f"{self.client_ip}/24", "dev", "vb"])
        _run([*ex, "ip", "link", "set", "va", "up"])
        _run([*ex, "ip", "link", "set", "vb", "up"])
        return self

    def delete(self) -> None:
        """Delete the namespace (idempotent); its veth pair goes with it."""
        if not self.created:
            return
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)
        self.created = False
        _LIVE.discard(self.name)

    def wrap(
        self, cmd: Sequence[str], cpus: str | None = None, nice: int = 0, rt: int = 0
    ) -> list[str]:
        """``cmd`` run inside the namespace, optionally pinned to ``cpus`` (taskset list), with a
        ``nice`` increment (negative = ahead of the machine's other work) or, with ``rt`` > 0,
        SCHED_FIFO at that priority (the kernel's RT throttling still leaves 5 % to others)."""
        out = list(cmd)
        if rt:
            out = ["chrt", "-f", str(rt), *out]
        if cpus:
            out = ["taskset", "-c", cpus, *out]
        if nice:
            out = ["nice", "-n", str(nice), *out]
        return ["ip", "netns", "exec", self.name, *out]

    def popen(
        self, cmd: Sequence[str], cpus: str | None = None, nice: int = 0, rt: int = 0, **kw: Any
    ) -> subprocess.Popen:
        """Start ``cmd`` inside the namespace (the caller owns and must stop the process)."""
        return subprocess.Popen(self.wrap(cmd, cpus, nice, rt), **kw)

    def __enter__(self) -> NetNs:
        return self.create()

    def __exit__(self, *exc: object) -> None:
        self.delete()


@atexit.register
def _delete_leftovers() -> None:
    for name in list(_LIVE):
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
        _LIVE.discard(name)
