"""The ``ilvb`` command line, run as a real subprocess (as scripts and the README use it)."""

from __future__ import annotations

import json
import os
import queue
import re
import shlex
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ilvb.auth.tickets import verify_ticket
from ilvb.errors import Unauthenticated

ILVB = [sys.executable, "-m", "ilvb"]
STARTUP_TIMEOUT_S = 60.0  # a loaded 2-core CI machine can be slow to import everything
LISTENING = re.compile(r"^ilvb listening on http://127\.0\.0\.1:(\d+)$")


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([*ILVB, *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"ilvb {args} failed ({proc.returncode}): {proc.stderr}")
    return proc


def run_json(*args: str) -> dict:
    return json.loads(run(*args, "--json").stdout)


def test_version_prints_the_package_version() -> None:
    from ilvb import __version__

    assert run("version").stdout.strip() == f"ilvb {__version__}"


def test_app_create_list_show_rotate_on_the_store(tmp_path: Path) -> None:
    d = str(tmp_path / "data")
    created = run_json("app", "create", "classroom", "--data-dir", d)
    assert created["app_id"].startswith("app_") and len(created["secret"]) >= 40
    assert created["name"] == "classroom"

    listed = json.loads(run("app", "list", "--data-dir", d, "--json").stdout)
    assert [a["app_id"] for a in listed] == [created["app_id"]]
    assert "secret" not in listed[0]
    assert created["app_id"] in run("app", "list", "--data-dir", d).stdout

    shown = run_json("app", "show", created["app_id"], "--data-dir", d)
    assert shown["secret"] == created["secret"]

    rotated = run_json("app", "rotate", created["app_id"], "--data-dir", d)
    assert rotated["secret"] != created["secret"]
    assert (
        run_json("app", "show", created["app_id"], "--data-dir", d)["secret"] == (rotated["secret"])
    )


def test_ticket_verifies_with_the_secret_and_carries_its_options(tmp_path: Path) -> None:
    app = run_json("app", "create", "t", "--data-dir", str(tmp_path))
    ticket = run(
        "ticket",
        "--app-id",
        app["app_id"],
        "--secret",
        app["secret"],
        "--user",
        "alice",
        "--ttl",
        "120",
        "--room",
        "math-101",
        "--no-video",
    ).stdout.strip()
    assert "\n" not in ticket
    claims = verify_ticket(ticket, app["secret"], app_id=app["app_id"])
    assert (claims.user_id, claims.app_id, claims.room) == ("alice", app["app_id"], "math-101")
    assert (claims.priv.audio, claims.priv.video, claims.priv.screen) == (True, False, True)
    assert 100 < claims.expires_at - time.time() <= 121

    # Rotating the secret invalidates every ticket signed with the old one.
    rotated = run_json("app", "rotate", app["app_id"], "--data-dir", str(tmp_path))
    with pytest.raises(Unauthenticated) as err:
        verify_ticket(ticket, rotated["secret"], app_id=app["app_id"])
    assert err.value.code == "ticket_bad_signature"


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (("app", "show", "app_missing"), "app_not_found"),
        (("app", "rotate", "app_missing"), "app_not_found"),
        (("app", "create", "   "), "invalid_argument"),
        (("app", "create", "tab\there"), "invalid_argument"),
        (("app", "create", "abc\u202edef"), "invalid_argument"),
    ],
)
def test_bad_store_commands_exit_1_with_the_error_code(
    tmp_path: Path, args: tuple[str, ...], code: str
) -> None:
    proc = run(*args, "--data-dir", str(tmp_path), check=False)
    assert proc.returncode == 1
    assert f"error: {code}:" in proc.stderr


@pytest.mark.parametrize(
    "args",
    [("serve", "--port", "99999"), ("serve", "--config", "/nonexistent/ilvb.toml")],
)
def test_bad_serve_settings_exit_1_before_starting(args: tuple[str, ...]) -> None:
    proc = run(*args, check=False)
    assert proc.returncode == 1
    assert "error: invalid_argument: bad settings" in proc.stderr
    assert "listening" not in proc.stdout


@pytest.mark.parametrize(
    "args",
    [
        ("--app-id", "a", "--secret", "s", "--user", "u", "--ttl", "-5"),
        ("--app-id", "a", "--secret", "s", "--user", ""),
        ("--app-id", "a", "--secret", "", "--user", "u"),
        ("--app-id", "a", "--secret", "s", "--user", "u" * 300),
    ],
)
def test_ticket_refuses_bad_input(args: tuple[str, ...]) -> None:
    proc = run("ticket", *args, check=False)
    assert proc.returncode == 1
    assert "error: invalid_argument:" in proc.stderr
    assert proc.stdout == ""


def test_usage_errors_exit_2() -> None:
    assert run(check=False).returncode == 2
    assert run("ticket", "--app-id", "a", check=False).returncode == 2


class Server:
    """``ilvb serve`` in a subprocess; stdout lines collected by a thread."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        env = {**(os.environ if env is None else env), "PYTHONUNBUFFERED": "1"}
        self.proc = subprocess.Popen(
            [*ILVB, "serve", "--port", "0", "--no-media", "--log-level", "warning", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self._start_pump()

    def _start_pump(self) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: re.Pattern[str], timeout: float = STARTUP_TIMEOUT_S) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no line matching {pattern.pattern!r}; saw {self.seen}")
            try:
                line = self.lines.get(timeout=remaining)
            except queue.Empty:
                continue
            if line is None:
                err = self.proc.stderr.read() if self.proc.stderr else ""
                raise AssertionError(f"server exited; stdout {self.seen}; stderr {err[-2000:]}")
            self.seen.append(line)
            if m := pattern.match(line):
                return m

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for s in started:
        s.stop()


ADMIN_KEY_FILE = re.compile(r"^admin key file: (/\S+)$")


def admin_key_from(server: Server) -> str:
    """The admin key from the file whose path ``ilvb serve`` printed (exactly one such line)."""
    paths = [m.group(1) for line in server.seen if (m := ADMIN_KEY_FILE.match(line))]
    assert len(paths) == 1, server.seen
    return Path(paths[0]).read_text().strip()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_serve_writes_the_admin_key_to_a_private_file_once_then_answers(
    tmp_path: Path, servers: list[Server]
) -> None:
    d = tmp_path / "data"
    first = Server("--data-dir", str(d))
    servers.append(first)
    port = int(first.wait_for(LISTENING).group(1))
    assert port > 0
    key = admin_key_from(first)
    assert len(key) >= 40
    assert not any(key in line for line in first.seen), "the key itself is not printed"
    # The data directory and every file in it are private to the server's user.
    assert mode(d) == 0o700
    assert mode(d / "admin-key") == 0o600
    keys = [key]
    base = f"http://127.0.0.1:{port}"
    assert httpx.get(f"{base}/healthz", timeout=10).status_code == 200
    assert httpx.get(f"{base}/v1/apps", timeout=10).status_code == 401
    r = httpx.get(f"{base}/v1/apps", headers={"X-Admin-Key": keys[0]}, timeout=10)
    assert (r.status_code, r.json()) == (200, {"apps": []})
    first.stop()
    assert first.proc.returncode is not None

    # Second start on the same data dir: no new admin key; --demo creates the demo app.
    second = Server("--data-dir", str(d), "--demo")
    servers.append(second)
    port = int(second.wait_for(LISTENING).group(1))
    app_id = second.wait_for(re.compile(r"^demo app id: (app_\w+)$")).group(1)
    secret = second.wait_for(re.compile(r"^demo app secret: (\S+)$")).group(1)
    command = second.wait_for(re.compile(r"^mint a ticket: (ilvb ticket --app-id \S+ --secret=.+)"))
    second.wait_for(re.compile(rf"^demo page: http://127\.0\.0\.1:{port}/demo$"))
    assert not [line for line in second.seen if line.startswith("admin key")]
    # The printed command works as printed.
    printed = run(*shlex.split(command.group(1))[1:]).stdout.strip()
    assert verify_ticket(printed, secret, app_id=app_id).user_id == "alice"
    # The old key still works (it was not regenerated) and the demo app is in the store.
    r = httpx.get(
        f"http://127.0.0.1:{port}/v1/apps/{app_id}",
        headers={"Authorization": f"Bearer {keys[0]}"},
        timeout=10,
    )
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["secret"]) == ("demo", secret)
    # `ilvb app create` writes the same store while the server runs; the server sees it at once.
    created = run_json("app", "create", "while-serving", "--data-dir", str(d))
    r = httpx.get(
        f"http://127.0.0.1:{port}/v1/apps/{created['app_id']}",
        headers={"X-Admin-Key": keys[0]},
        timeout=10,
    )
    assert (r.status_code, r.json()["secret"]) == (200, created["secret"])
    # The database (app secrets) and SQLite's WAL files are private too.
    for name in ("ilvb.db", "ilvb.db-wal", "ilvb.db-shm"):
        assert mode(d / name) == 0o600, name
    assert mode(d) == 0o700


def test_admin_key_reset_writes_the_new_key_to_the_private_file(tmp_path: Path) -> None:
    d = tmp_path / "data"
    proc = run("admin-key", "reset", "--data-dir", str(d))
    path = Path(proc.stdout.splitlines()[0].removeprefix("admin key file: "))
    assert path == (d / "admin-key").resolve() and mode(path) == 0o600
    key = path.read_text().strip()
    assert len(key) >= 40 and key not in proc.stdout


def test_ticket_takes_the_secret_from_a_file_stdin_or_the_environment(tmp_path: Path) -> None:
    secret = "-starts-with-a-dash-" + "x" * 30  # argparse would read "--secret -s…" as an option
    secret_file = tmp_path / "secret"
    secret_file.write_text(secret + "\n")
    base = ("ticket", "--app-id", "app_x", "--user", "alice")

    def verified(proc: subprocess.CompletedProcess[str]) -> str:
        assert proc.returncode == 0, proc.stderr
        return verify_ticket(proc.stdout.strip(), secret, app_id="app_x").user_id

    assert verified(run(*base, "--secret-file", str(secret_file))) == "alice"
    assert verified(run(*base, f"--secret={secret}")) == "alice"
    from_env = subprocess.run(
        [*ILVB, *base], capture_output=True, text=True, timeout=60,
        env={**os.environ, "ILVB_APP_SECRET": secret},
    )  # fmt: skip
    assert verified(from_env) == "alice"
    from_stdin = subprocess.run(
        [*ILVB, *base, "--secret-file", "-"], input=secret + "\n", capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert verified(from_stdin) == "alice"
    # None given (and no variable): a clear error naming the three ways.
    env = {k: v for k, v in os.environ.items() if k != "ILVB_APP_SECRET"}
    none = subprocess.run([*ILVB, *base], capture_output=True, text=True, timeout=60, env=env)
    assert none.returncode == 1
    assert "--secret-file" in none.stderr and "ILVB_APP_SECRET" in none.stderr
    missing = run(*base, "--secret-file", str(tmp_path / "nope"), check=False)
    assert missing.returncode == 1 and "error: invalid_argument:" in missing.stderr
    both = run(*base, "--secret=s", "--secret-file", str(secret_file), check=False)
    assert both.returncode == 2
