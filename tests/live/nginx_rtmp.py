"""A real RTMP ingest for the tests: Debian's nginx with libnginx-mod-rtmp, run as our own
process (one process, no daemon) with a config in a temp dir, on a loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from pathlib import Path

MODULE_DIRS = ["/usr/lib/nginx/modules", "/usr/lib64/nginx/modules", "/usr/share/nginx/modules"]
NGINX = "/usr/sbin/nginx"


def rtmp_module() -> Path:
    """Where Debian put ngx_rtmp_module.so (the test fails, not skips, without it)."""
    for d in MODULE_DIRS:
        path = Path(d) / "ngx_rtmp_module.so"
        if path.is_file():
            return path
    raise AssertionError("ngx_rtmp_module.so not found: install nginx and libnginx-mod-rtmp")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class NginxRtmp:
    """``rtmp://127.0.0.1:<port>/live/<key>``; :meth:`restart` keeps the port."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "error.log"
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "nginx.conf").write_text(
            f"load_module {rtmp_module()};\n"
            "daemon off;\nmaster_process off;\n"
            f"error_log {self.log} info;\npid {workdir / 'nginx.pid'};\n"
            "events { worker_connections 64; }\n"
            "rtmp { server {\n"
            f"  listen 127.0.0.1:{self.port};\n"
            "  application live { live on; record off; }\n"
            "} }\n"
        )

    def url(self, key: str) -> str:
        """The push / pull URL of stream ``key``."""
        return f"rtmp://127.0.0.1:{self.port}/live/{key}"

    def start(self) -> None:
        """Start nginx and wait until it listens."""
        assert Path(NGINX).is_file(), "nginx not installed"
        self.proc = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text() if self.log.exists() else ""
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise AssertionError("nginx did not listen")

    def stop(self) -> None:
        """Kill nginx (by its pid) and wait."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def publishes(self, key: str) -> int:
        """How many times a client started publishing ``key`` (nginx's log)."""
        if not self.log.exists():
            return 0
        return self.log.read_text(errors="replace").count(f"publish: name='{key}'")

    def publisher_left(self, key: str) -> bool:
        """The last client that published ``key`` closed its stream (nginx's log)."""
        if not self.log.exists():
            return False
        text = self.log.read_text(errors="replace")
        marker = f"publish: name='{key}'"
        ids = [line.split("*", 1)[1].split(" ", 1)[0] for line in text.splitlines()
               if marker in line and "*" in line]  # fmt: skip
        if not ids:
            return False
        return any(f"*{ids[-1]} deleteStream" in line for line in text.splitlines())
