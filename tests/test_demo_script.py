"""``scripts/demo.sh`` as the README describes it: it starts the demo server and prints where the
admin key is (not the key), the demo app and a ready ``ilvb ticket`` command that works."""

from __future__ import annotations

import os
import re
import shlex
import stat
import subprocess
from pathlib import Path

from ilvb.auth.tickets import verify_ticket
from tests.test_cli import LISTENING, Server, run

ROOT = Path(__file__).resolve().parent.parent


class DemoScript(Server):
    """``bash scripts/demo.sh`` (it execs ``ilvb serve --demo``) with its output collected."""

    def __init__(self, data_dir: Path) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "ILVB_DATA_DIR": str(data_dir)}
        self.proc = subprocess.Popen(
            ["bash", str(ROOT / "scripts" / "demo.sh"), "--port", "0", "--no-media",
             "--log-level", "warning"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT,
        )  # fmt: skip
        self._start_pump()


def test_demo_script_prints_the_key_file_the_demo_app_and_a_working_ticket_command(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    demo = DemoScript(data)
    try:
        port = int(demo.wait_for(LISTENING).group(1))
        command = demo.wait_for(re.compile(r"^mint a ticket: (ilvb ticket .+)$")).group(1)
        demo.wait_for(re.compile(rf"^demo page: http://127\.0\.0\.1:{port}/demo$"))
    finally:
        demo.stop()
    key_file = [line for line in demo.seen if line.startswith("admin key file: ")]
    assert key_file == [f"admin key file: {(data / 'admin-key').resolve()}"]
    key = (data / "admin-key").read_text().strip()
    assert not any(key in line for line in demo.seen)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    app_id = next(ln.split(": ", 1)[1] for ln in demo.seen if ln.startswith("demo app id: "))
    secret = next(ln.split(": ", 1)[1] for ln in demo.seen if ln.startswith("demo app secret: "))
    ticket = run(*shlex.split(command)[1:]).stdout.strip()
    assert verify_ticket(ticket, secret, app_id=app_id).user_id == "alice"
