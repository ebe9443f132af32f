"""The benchmark's network namespace: veth pair inside it, private addresses, deleted after."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from bench.netns import NetNs

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)


def _names() -> list[str]:
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def test_namespace_holds_both_veth_ends_and_is_deleted_on_exit() -> None:
    ns = NetNs(name=f"ilvbtest{os.getpid()}", subnet=250)
    with ns:
        assert ns.name in _names()
        links = subprocess.run(
            ns.wrap(["ip", "-br", "addr"]), capture_output=True, text=True, check=True
        ).stdout
        assert "va@vb" in links and "vb@va" in links
        assert "10.231.250.1/24" in links and "10.231.250.2/24" in links
        # The host does not see the addresses.
        host = subprocess.run(["ip", "-br", "addr"], capture_output=True, text=True).stdout
        assert "10.231.250." not in host
        # A UDP datagram between two sockets on the server address stays inside.
        code = (
            "import socket\n"
            f"a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a.bind(('{ns.server_ip}',0))\n"
            f"b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b.bind(('{ns.server_ip}',0))\n"
            "b.sendto(b'x', a.getsockname()); a.settimeout(2); print(a.recvfrom(10)[0])\n"
        )
        out = subprocess.run(
            ns.wrap([sys.executable, "-c", code], cpus="0", nice=1),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert out.stdout.strip() == "b'x'"
    assert ns.name not in _names()
    ns.delete()  # idempotent
