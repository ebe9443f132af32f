"""ilvb's media plane as a benchmark server: ``create_media_plane`` behind a JSON-lines RPC.

    python bench/ilvb_server.py --bind-ip 10.231.1.1 --rpc-port 7999 --workers 1

The benchmark's clients run in another process; they call the MediaPlane / RouterHandle API
(``open_router``, ``negotiate_send``, ``offer_receive``, ``accept_receive_answer``,
``set_subscription``, ``stats``) with one JSON object per line on a TCP connection to
``127.0.0.1:rpc_port`` and get ``{"result": ...}`` or ``{"error": "..."}`` back. The SFU workers
are this process's children, so their CPU time is measured through this process's tree.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
# ``fanout.py --ilvb-src DIR`` measures another source tree of ilvb (before → after figures).
if os.environ.get("ILVB_BENCH_SRC"):
    sys.path.insert(0, os.environ["ILVB_BENCH_SRC"])
    # The media workers start as ``python -m ilvb.sfu.worker``, which puts the working directory
    # first on sys.path: run from the measured tree, or they import this checkout's ilvb while
    # the server runs the other one (different channel protocols: the worker dies at once).
    os.chdir(os.environ["ILVB_BENCH_SRC"])

from ilvb.config import MediaSettings  # noqa: E402
from ilvb.sfu.api import RouterHandle, Subscription  # noqa: E402
from ilvb.sfu.plane import create_media_plane  # noqa: E402


def _jsonable(value: Any) -> Any:
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    return value


class BenchServer:
    """Routes RPC requests to one media plane; routers by room id."""

    def __init__(self, settings: MediaSettings) -> None:
        self.plane = create_media_plane(settings)
        self.routers: dict[str, RouterHandle] = {}
        # Router events as delivered: one typed event, or (name, payload) from revisions before
        # the typed contract (``run_all.py --before`` runs this file against older packages).
        self.events: list[tuple[Any, ...]] = []

    async def handle(self, method: str, p: dict[str, Any]) -> Any:
        """Run one API call."""
        if method == "open_router":
            room = p["room_id"]
            self.routers[room] = await self.plane.open_router(
                room, lambda *event: self.events.append(event)
            )
            return None
        router = next(iter(self.routers.values()))
        if method == "negotiate_send":
            answer = await router.negotiate_send(p["member_id"], p["offer_sdp"], p["sources"])
            return answer.sdp
        if method == "offer_receive":
            return await router.offer_receive(p["member_id"], p["audio_slots"], p["video_slots"])
        if method == "accept_receive_answer":
            await router.accept_receive_answer(p["member_id"], p["answer_sdp"])
            return None
        if method == "set_subscription":
            audio = p.get("audio_from")
            sub = Subscription(
                audio_from=frozenset(audio) if audio is not None else None,
                views=tuple((m, s) for m, s in p.get("views", [])),
            )
            await router.set_subscription(p["member_id"], sub)
            return None
        if method == "stats":
            return _jsonable(await router.stats())
        raise ValueError(f"unknown method {method!r}")

    async def serve_client(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """One RPC connection: a request per line, a reply per line, in order."""
        while line := await reader.readline():
            req = json.loads(line)
            try:
                reply = {"result": _jsonable(await self.handle(req["method"], req["params"]))}
            except Exception as exc:  # noqa: BLE001 - reported to the bench client
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            writer.write(json.dumps(reply).encode() + b"\n")
            await writer.drain()
        writer.close()


async def amain(args: argparse.Namespace) -> None:
    """Start the plane and the RPC listener; stop on SIGTERM/SIGINT."""
    settings = MediaSettings(
        workers=args.workers,
        bind_ip=args.bind_ip,
        announced_ip=args.bind_ip,
        udp_port=args.udp_port,
    )
    server = BenchServer(settings)
    await server.plane.start()
    listener = await asyncio.start_server(server.serve_client, "127.0.0.1", args.rpc_port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    import ilvb

    print(
        f"ilvb bench server ready on 127.0.0.1:{args.rpc_port} (ilvb from "
        f"{Path(ilvb.__file__).parent})",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        listener.close()
        for router in server.routers.values():
            await router.close()
        await server.plane.close()


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--bind-ip", required=True)
    p.add_argument("--rpc-port", type=int, default=7999)
    p.add_argument("--udp-port", type=int, default=0)
    p.add_argument("--workers", type=int, default=1)
    asyncio.run(amain(p.parse_args()))


if __name__ == "__main__":
    main()
