"""SDK logs and crash reports of the Python SDK.

::

    logs = SdkLogs("/var/log/myapp/ilvb", level="DEBUG")   # rotating files, JSON lines
    logs.install()                                         # + crash reporting
    logs.context(app_id=..., user_id=..., room=...)        # ids on every line
    await logs.upload_pending(client)                      # crash reports of an earlier run
    await logs.upload(client, stats={...})                 # a bundle: logs, stats, environment

Every line of the ``ilvb.client`` loggers goes, at ``level`` and above, to
``<directory>/ilvb-sdk.log`` (rotated at ``max_bytes``, ``backups`` kept) as one JSON object
with the ids set by :meth:`SdkLogs.context`. Tickets, keys, tokens, secrets and ICE passwords
are redacted from every line and from everything uploaded.

Crash reports: an uncaught exception (``sys.excepthook``, ``threading.excepthook``, the asyncio
loop's exception handler) or an error logged with a traceback by the SDK (a failing event or
frame callback) writes ``crash-*.json``; a fatal error (segfault, abort) is written by
``faulthandler`` to ``fatal-<pid>.log``. Both are uploaded by :meth:`SdkLogs.upload_pending`
on the next start, then removed.
"""

from __future__ import annotations

import asyncio
import collections
import faulthandler
import hashlib
import json
import logging
import logging.handlers
import os
import platform
import re
import sys
import threading
import time
import traceback
from importlib import metadata
from pathlib import Path
from types import TracebackType
from typing import IO, Any

from ilvb.errors import InvalidArgument, error_from_dict

LOG_FILE = "ilvb-sdk.log"
MAX_UPLOAD_LOG_CHARS = 600_000  # the newest part of the logs (the server caps bodies at 1 MiB)

# A JWT (tickets, server tokens) anywhere; key=value / "key": "value" pairs whose key names a
# secret; bearer credentials; SDP ICE passwords.
_REDACTIONS = [
    re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"),
    re.compile(
        r"(?i)((?:ticket|token|secret|password|passwd|api[_-]?key|admin[_-]?key|key|session"
        r"|authorization|ice-pwd)[\"']?\s*[:=]\s*[\"']?)(?:Bearer\s+)?[^\s\"',;}&]+"
    ),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(a=ice-pwd:)\S+"),
]


def redact(text: str) -> str:
    """``text`` with tickets, keys, tokens, secrets and ICE passwords replaced by ``***``."""
    text = _REDACTIONS[0].sub("***", text)
    for pattern in _REDACTIONS[1:]:
        text = pattern.sub(lambda m: m.group(1) + "***", text)
    return text


def _redact_tree(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: "***" if _secret_key(str(k)) else _redact_tree(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_tree(v) for v in value]
    return value


def _secret_key(key: str) -> bool:
    key = key.lower()
    return any(word in key for word in ("ticket", "token", "secret", "password", "key"))


def session_id(session_token: str) -> str:
    """A short id for a session, derived from its (secret) resume token."""
    return hashlib.sha256(session_token.encode()).hexdigest()[:12] if session_token else ""


class _JsonLines(logging.Formatter):
    def __init__(self, context: dict[str, str]) -> None:
        super().__init__()
        self._context = context

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "t": round(record.created, 3),
            "level": record.levelname,
            "logger": record.name,
            **self._context,
            "msg": redact(record.getMessage()),
        }
        if record.exc_info:
            line["exc"] = redact("".join(traceback.format_exception(*record.exc_info)))
        return json.dumps(line, ensure_ascii=False)


class _Recent(logging.Handler):
    """Keeps the newest formatted lines for crash reports; writes one on a logged traceback."""

    def __init__(self, logs: SdkLogs) -> None:
        super().__init__(logging.DEBUG)
        self.lines: collections.deque[str] = collections.deque(maxlen=200)
        self._logs = logs

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))
        if record.levelno >= logging.ERROR and record.exc_info and record.exc_info[1]:
            exc = record.exc_info[1]
            self._logs.write_crash(type(exc), exc, exc.__traceback__, where=record.getMessage())


class SdkLogs:
    """The SDK's log sink (a directory of rotating JSON-line files) and crash reporter."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        level: str | int = "INFO",
        *,
        max_bytes: int = 1_000_000,
        backups: int = 3,
        logger: str = "ilvb.client",
    ) -> None:
        if isinstance(level, str):
            if level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
                raise InvalidArgument(message=f"unknown log level {level!r}")
            level = getattr(logging, level.upper())
        if max_bytes < 10_000 or not 0 <= backups <= 100:
            raise InvalidArgument(message="max_bytes must be ≥ 10000 and backups 0–100")
        self.directory = Path(directory)
        self.level = int(level)
        self.max_bytes = max_bytes
        self.backups = backups
        self.logger = logging.getLogger(logger)
        self._context: dict[str, str] = {}
        self._handlers: list[logging.Handler] = []
        self._recent: _Recent | None = None
        self._fatal: IO[str] | None = None
        self._previous_hooks: tuple[Any, Any] | None = None

    # -- sink ---------------------------------------------------------------------------------

    def install(self, *, crash_reports: bool = True) -> SdkLogs:
        """Start writing the log files (and catching crashes)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        formatter = _JsonLines(self._context)
        files = logging.handlers.RotatingFileHandler(
            self.directory / LOG_FILE,
            maxBytes=self.max_bytes,
            backupCount=self.backups,
            encoding="utf-8",
        )
        files.setLevel(self.level)
        files.setFormatter(formatter)
        self._recent = _Recent(self)
        self._recent.setFormatter(formatter)
        self._handlers = [files, self._recent]
        for handler in self._handlers:
            self.logger.addHandler(handler)
        self.logger.setLevel(min(self.level, logging.INFO))
        if crash_reports:
            self._install_crash_hooks()
        return self

    def context(self, **ids: str | int | None) -> None:
        """Set the ids (``app_id``, ``room``, ``user_id``, ``session_id``) put on every line."""
        for key, value in ids.items():
            if value is None:
                self._context.pop(key, None)
            else:
                self._context[key] = str(value)

    def context_from(self, client: Any) -> None:
        """Take the ids from a connected :class:`~ilvb.client.Client`."""
        connection = client.connection
        self.context(
            app_id=getattr(connection, "app_id", None),
            user_id=getattr(connection, "user_id", None),
            session_id=session_id(getattr(connection, "session", "")),
            room=client.room,
        )

    def close(self) -> None:
        """Stop writing (and restore the crash hooks)."""
        for handler in self._handlers:
            self.logger.removeHandler(handler)
            handler.close()
        self._handlers = []
        if self._previous_hooks is not None:
            sys.excepthook, threading.excepthook = self._previous_hooks
            self._previous_hooks = None
        if self._fatal is not None:
            faulthandler.disable()
            path = Path(self._fatal.name)
            self._fatal.close()
            self._fatal = None
            if path.exists() and path.stat().st_size == 0:
                path.unlink()

    # -- crashes ------------------------------------------------------------------------------

    def _install_crash_hooks(self) -> None:
        previous_sys, previous_thread = sys.excepthook, threading.excepthook
        self._previous_hooks = (previous_sys, previous_thread)

        def on_uncaught(
            kind: type[BaseException], exc: BaseException, tb: TracebackType | None
        ) -> None:
            self.write_crash(kind, exc, tb, where="uncaught exception")
            previous_sys(kind, exc, tb)

        def on_thread(args: threading.ExceptHookArgs) -> None:
            if args.exc_value is not None:
                where = f"thread {args.thread.name if args.thread else '?'}"
                self.write_crash(args.exc_type, args.exc_value, args.exc_traceback, where=where)
            previous_thread(args)

        sys.excepthook = on_uncaught
        threading.excepthook = on_thread
        self._fatal = open(  # noqa: SIM115 - faulthandler writes to it until close()
            self.directory / f"fatal-{os.getpid()}.log", "w", encoding="utf-8"
        )
        faulthandler.enable(self._fatal)

    def watch_loop(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Report exceptions no task retrieved (the asyncio loop's exception handler)."""
        loop = loop or asyncio.get_running_loop()
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            exc = context.get("exception")
            if isinstance(exc, BaseException):
                self.write_crash(
                    type(exc), exc, exc.__traceback__, where=str(context.get("message"))
                )
            if previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    def write_crash(
        self,
        kind: type[BaseException],
        exc: BaseException,
        tb: TracebackType | None,
        where: str = "",
    ) -> Path:
        """Write a crash report (redacted traceback, recent lines, environment) now."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        report = {
            "kind": "crash",
            "created_at": time.time(),
            "crash": {
                "where": redact(where),
                "type": kind.__name__,
                "message": redact(str(exc)),
                "traceback": redact("".join(traceback.format_exception(kind, exc, tb))),
            },
            "logs": "\n".join(self._recent.lines) if self._recent is not None else "",
            "environment": environment(),
            "session_id": self._context.get("session_id"),
            "room": self._context.get("room"),
        }
        path = self.directory / f"crash-{time.time_ns()}-{os.getpid()}.json"
        path.write_text(json.dumps(_redact_tree(report)), encoding="utf-8")
        return path

    def pending_crashes(self) -> list[Path]:
        """Crash reports of earlier runs (and this one) not uploaded yet."""
        mine = f"fatal-{os.getpid()}.log"
        fatal = [
            p for p in self.directory.glob("fatal-*.log") if p.name != mine and p.stat().st_size
        ]
        return sorted(self.directory.glob("crash-*.json")) + sorted(fatal)

    # -- upload -------------------------------------------------------------------------------

    def bundle(self, stats: dict[str, Any] | None = None) -> dict[str, Any]:
        """What :meth:`upload` sends: the newest logs, stats, environment (all redacted)."""
        files = sorted(
            self.directory.glob(LOG_FILE + "*"),
            key=lambda p: p.stat().st_mtime,
        )
        text = "".join(p.read_text("utf-8", errors="replace") for p in files)
        redacted: dict[str, Any] = _redact_tree(
            {
                "kind": "logs",
                "created_at": time.time(),
                "session_id": self._context.get("session_id"),
                "room": self._context.get("room"),
                "logs": text[-MAX_UPLOAD_LOG_CHARS:],
                "stats": stats or {},
                "environment": environment(),
            }
        )
        return redacted

    async def upload(self, client: Any, stats: dict[str, Any] | None = None) -> str:
        """Send a bundle to the client's server; the stored bundle's id."""
        for handler in self._handlers:
            handler.flush()
        return await _post(client, self.bundle(stats))

    async def upload_pending(self, client: Any) -> list[str]:
        """Upload the crash reports waiting in the directory (removed once accepted)."""
        ids = []
        for path in self.pending_crashes():
            if path.suffix == ".json":
                body = json.loads(path.read_text("utf-8"))
            else:  # a faulthandler dump of a run that died
                body = {
                    "kind": "crash",
                    "created_at": path.stat().st_mtime,
                    "crash": {"type": "fatal", "traceback": path.read_text("utf-8")[-200_000:]},
                    "environment": environment(),
                }
            ids.append(await _post(client, _redact_tree(body)))
            path.unlink()
        return ids


def environment() -> dict[str, Any]:
    """The runtime the SDK ran in (versions, platform), nothing personal."""
    versions: dict[str, str | None] = {}
    for package in ("ilvb", "aiortc", "av", "numpy", "websockets"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "packages": versions,
    }


def http_base(ws_url: str) -> str:
    """``ws://host:port/ws`` -> ``http://host:port``."""
    scheme, _, rest = ws_url.partition("://")
    host = rest.split("/", 1)[0]
    return f"{'https' if scheme == 'wss' else 'http'}://{host}"


async def _post(client: Any, body: dict[str, Any]) -> str:
    import httpx

    connection = client.connection
    async with httpx.AsyncClient(timeout=10) as http:
        reply = await http.post(
            http_base(connection.url) + "/client-logs",
            json=body,
            headers={"Authorization": f"Bearer {connection.ticket}"},
        )
    if reply.status_code != 201:
        try:
            error = reply.json()["error"]
        except (ValueError, KeyError, TypeError):
            error = {"code": "unavailable", "message": f"HTTP {reply.status_code}"}
        raise error_from_dict(error)
    return str(reply.json()["id"])
