"""A private PulseAudio daemon for the device tests (user mode, its own runtime dir).

Debian's ``pulseaudio`` started as root with ``-n`` (no default.pa), the native protocol on a
socket under a temporary directory, no D-Bus, no idle exit. Tests load null sinks (a sink and
its ``.monitor`` source) and remapped sources as devices, and load/unload them as hot-plug.
Missing ``pulseaudio``: the test fails on CI (``CI=true``) and is skipped elsewhere.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest


class PulseServer:
    """A running daemon: ``server`` is the address for pulsectl / parec (``--server``)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.socket = root / "pulse" / "native"
        self.server = f"unix:{self.socket}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        env = {
            **os.environ,
            "HOME": str(self.root),
            "XDG_RUNTIME_DIR": str(self.root),
            "PULSE_RUNTIME_PATH": str(self.root / "pulse"),
            "PULSE_STATE_PATH": str(self.root / "state"),
        }
        self.proc = subprocess.Popen(
            [
                "pulseaudio",
                "--daemonize=no",
                "--exit-idle-time=-1",
                "--use-pid-file=no",
                "--disable-shm=yes",
                "-n",
                f"--load=module-native-protocol-unix socket={self.socket} auth-anonymous=1",
                "--load=module-null-sink sink_name=default_out",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "pulse.log", "wb"),  # noqa: SIM115 - the child owns it
        )
        deadline = time.monotonic() + 15
        while not self.socket.exists() or self.pactl("info", check=False).returncode:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(
                    "pulseaudio did not start: " + (self.root / "pulse.log").read_text()[-2000:]
                )
            time.sleep(0.05)

    def pactl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``pactl`` against this daemon."""
        return subprocess.run(
            ["pactl", f"--server={self.server}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=10,
        )

    def load(self, module: str, *args: str) -> int:
        """Load a module; its index (unload it with :meth:`unload`)."""
        return int(self.pactl("load-module", module, *args).stdout.strip())

    def unload(self, index: int) -> None:
        """Unload a module (its devices disappear)."""
        self.pactl("unload-module", str(index))

    def null_sink(self, name: str) -> int:
        """A null sink ``name`` (its monitor source is ``name.monitor``)."""
        return self.load(
            "module-null-sink",
            f"sink_name={name}",
            f"sink_properties=device.description={name}-sink",
        )

    def source(self, name: str, master: str) -> int:
        """A source ``name`` that records ``master`` (e.g. a null sink's monitor)."""
        return self.load(
            "module-remap-source",
            f"source_name={name}",
            f"master={master}",
            f"source_properties=device.description={name}-mic",
        )

    def play(self, sink: str, wav: Path) -> subprocess.Popen[bytes]:
        """Play a WAV file into ``sink`` (``paplay``); stop it with ``.terminate()``."""
        return subprocess.Popen(
            ["paplay", f"--server={self.server}", f"--device={sink}", str(wav)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def require_pulseaudio() -> None:
    """Fail on CI, skip elsewhere, when the PulseAudio tools are missing."""
    missing = [
        t for t in ("pulseaudio", "pactl", "parec", "pacat", "paplay") if not shutil.which(t)
    ]
    if missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"missing PulseAudio tools on CI: {missing}")
        pytest.skip(f"missing PulseAudio tools: {missing}")


@pytest.fixture(name="pulse")
def pulse_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PulseServer]:
    """A fresh PulseAudio daemon for one test."""
    require_pulseaudio()
    server = PulseServer(tmp_path_factory.mktemp("pulse"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


def tone_wav(path: Path, frequency: float, amplitude: float, seconds: float = 30.0) -> Path:
    """A 48 kHz mono s16 WAV of a sine."""
    import wave

    import numpy as np

    t = np.arange(int(48000 * seconds)) / 48000
    pcm = (np.sin(2 * np.pi * frequency * t) * amplitude * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(48000)
        w.writeframes(pcm.tobytes())
    return path
