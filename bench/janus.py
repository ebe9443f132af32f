"""Janus 1.x as the benchmark's reference SFU: a minimal config, the process, the videoroom API.

:func:`write_config` writes ``janus.jcfg`` (ICE on the namespace's veth only, no STUN/TURN, no
event handlers), the videoroom plugin's and the HTTP transport's configs into a temp dir; every
other plugin, transport and logger is disabled. :class:`JanusApi` drives the videoroom over the
HTTP long-poll API: create a room, join and publish with an SDP offer, join subscribers and
answer Janus's offers.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import httpx

JANUS_BIN = "/usr/bin/janus"
LIB = Path("/usr/lib/x86_64-linux-gnu/janus")
HTTP_PORT = 8088
ROOM_ID = 1234


def ensure_installed() -> str:
    """Path of the janus binary; installs the Debian package when missing (needs root)."""
    found = shutil.which("janus") or (JANUS_BIN if Path(JANUS_BIN).exists() else None)
    if found:
        return found
    env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", "janus"], check=True, env=env)
    found = shutil.which("janus")
    if not found:
        raise RuntimeError("janus is still missing after apt-get install janus")
    return found


def _disabled(folder: str, keep: str) -> str:
    path = LIB / folder
    names = sorted(p.name for p in path.glob("libjanus_*.so")) if path.exists() else []
    return ",".join(n for n in names if n != keep)


def write_config(
    folder: Path,
    ice_interface: str,
    rtp_range: str = "20000-40000",
    debug_level: int = 3,
    event_loops: int = 0,
) -> Path:
    """Write the three config files into ``folder``; returns the path of ``janus.jcfg``."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "janus.jcfg").write_text(f"""general: {{
    configs_folder = "{folder}"
    plugins_folder = "{LIB / "plugins"}"
    transports_folder = "{LIB / "transports"}"
    events_folder = "{LIB / "events"}"
    loggers_folder = "{LIB / "loggers"}"
    debug_level = {debug_level}
    session_timeout = 0
    server_name = "ilvb-bench"
    {f"event_loops = {event_loops}" if event_loops else ""}
}}
certificates: {{
}}
media: {{
    rtp_port_range = "{rtp_range}"
}}
nat: {{
    nice_debug = {"true" if debug_level >= 7 else "false"}
    full_trickle = false
    ice_lite = false
    ice_tcp = false
    ignore_mdns = true
    ice_enforce_list = "{ice_interface}"
}}
plugins: {{
    disable = "{_disabled("plugins", "libjanus_videoroom.so")}"
}}
transports: {{
    disable = "{_disabled("transports", "libjanus_http.so")}"
}}
loggers: {{
    disable = "{_disabled("loggers", "")}"
}}
events: {{
    broadcast = false
}}
""")
    (folder / "janus.plugin.videoroom.jcfg").write_text("""general: {
    events = false
}
""")
    (folder / "janus.transport.http.jcfg").write_text(f"""general: {{
    json = "compact"
    base_path = "/janus"
    http = true
    port = {HTTP_PORT}
    https = false
}}
admin: {{
    admin_base_path = "/admin"
    admin_http = false
    admin_https = false
}}
""")
    return folder / "janus.jcfg"


def janus_command(config: Path, log_file: Path) -> list[str]:
    """The command line that runs Janus with ``config`` (logs to ``log_file``, not stdout)."""
    return [
        ensure_installed(),
        "-C",
        str(config),
        "-F",
        str(config.parent),
        "-N",
        "-L",
        str(log_file),
        "-o",
    ]


class JanusError(RuntimeError):
    """Janus answered a request with an error."""


class JanusApi:
    """A Janus session over the HTTP transport, with one long-poll task for events."""

    def __init__(self, base_url: str) -> None:
        self.base = base_url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=30.0)
        self.session: int | None = None
        self._tx = itertools.count(1)
        self._waiters: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._poller: asyncio.Task[None] | None = None

    async def wait_ready(self, limit_s: float = 20.0) -> None:
        """Poll ``GET /janus/info`` until Janus answers."""
        deadline = asyncio.get_running_loop().time() + limit_s
        while True:
            try:
                r = await self.http.get(f"{self.base}/info")
                if r.status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("Janus did not answer /janus/info")
            await asyncio.sleep(0.2)

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        tx = f"t{next(self._tx)}"
        body = {**body, "transaction": tx}
        r = await self.http.post(f"{self.base}{path}", json=body)
        r.raise_for_status()
        data = r.json()
        if data.get("janus") == "error":
            raise JanusError(str(data.get("error")))
        return data

    async def create_session(self) -> int:
        """Create the session and start the event long-poll."""
        data = await self._post("", {"janus": "create"})
        self.session = int(data["data"]["id"])
        self._poller = asyncio.create_task(self._poll())
        return self.session

    async def attach(self) -> int:
        """Attach a new videoroom handle."""
        data = await self._post(
            f"/{self.session}", {"janus": "attach", "plugin": "janus.plugin.videoroom"}
        )
        return int(data["data"]["id"])

    async def message(
        self,
        handle: int,
        body: dict[str, Any],
        jsep: dict[str, Any] | None = None,
        limit_s: float = 30.0,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """Send a plugin message; returns (plugin data, jsep) of the sync reply or the event."""
        tx = f"t{next(self._tx)}"
        req: dict[str, Any] = {"janus": "message", "body": body, "transaction": tx}
        if jsep is not None:
            req["jsep"] = jsep
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._waiters[tx] = fut
        try:
            r = await self.http.post(f"{self.base}/{self.session}/{handle}", json=req)
            r.raise_for_status()
            data = r.json()
            if data.get("janus") == "error":
                raise JanusError(str(data.get("error")))
            if data.get("janus") == "ack":
                data = await asyncio.wait_for(fut, limit_s)
        finally:
            self._waiters.pop(tx, None)
        plugin = data.get("plugindata", {}).get("data", {})
        if "error" in plugin:
            raise JanusError(f"{plugin.get('error_code')}: {plugin['error']}")
        return plugin, data.get("jsep")

    async def _poll(self) -> None:
        while True:
            try:
                r = await self.http.get(
                    f"{self.base}/{self.session}", params={"maxev": 20}, timeout=40.0
                )
                events = r.json()
            except (httpx.HTTPError, ValueError):
                await asyncio.sleep(0.2)
                continue
            if isinstance(events, dict):
                events = [events]
            for ev in events:
                fut = self._waiters.get(ev.get("transaction", ""))
                if fut is not None and not fut.done() and ev.get("janus") == "event":
                    fut.set_result(ev)

    async def create_room(self, handle: int, room: int = ROOM_ID, publishers: int = 1) -> None:
        """Create a VP8/Opus room without bitrate cap or periodic PLI."""
        await self.message(
            handle,
            {
                "request": "create",
                "room": room,
                "publishers": publishers,
                "audiocodec": "opus",
                "videocodec": "vp8",
                "bitrate": 0,
                "fir_freq": 0,
                "notify_joining": False,
                "audiolevel_event": False,
                "permanent": False,
            },
        )

    async def publish(self, handle: int, offer_sdp: str, room: int = ROOM_ID) -> tuple[int, str]:
        """Join as publisher and publish; returns (publisher id, SDP answer)."""
        joined, _ = await self.message(
            handle, {"request": "join", "ptype": "publisher", "room": room, "display": "bench"}
        )
        pub_id = int(joined["id"])
        _, jsep = await self.message(
            handle,
            {"request": "publish", "audio": True, "video": True},
            {"type": "offer", "sdp": offer_sdp, "trickle": False},
        )
        if not jsep:
            raise JanusError("publish returned no SDP answer")
        return pub_id, jsep["sdp"]

    async def subscribe(self, handle: int, feed: int, room: int = ROOM_ID) -> str:
        """Join as subscriber to ``feed``; returns Janus's SDP offer."""
        _, jsep = await self.message(
            handle,
            {"request": "join", "ptype": "subscriber", "room": room, "streams": [{"feed": feed}]},
        )
        if not jsep:
            raise JanusError("subscriber join returned no SDP offer")
        return jsep["sdp"]

    async def start(self, handle: int, answer_sdp: str, room: int = ROOM_ID) -> None:
        """Answer the subscriber offer and start the stream."""
        await self.message(
            handle,
            {"request": "start", "room": room},
            {"type": "answer", "sdp": answer_sdp, "trickle": False},
        )

    async def close(self) -> None:
        """Stop polling, destroy the session, close the HTTP client."""
        if self._poller:
            self._poller.cancel()
        if self.session is not None:
            try:
                await self._post(f"/{self.session}", {"janus": "destroy"})
            except (httpx.HTTPError, JanusError):
                pass
        await self.http.aclose()
