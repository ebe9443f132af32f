"""The ``ilvb`` command line: ``serve``, ``app create/list/show/rotate``, ``ticket``, ``version``.

Output that scripts rely on (docs/architecture.md, README):

- ``ilvb serve`` prints ``ilvb listening on http://H:P`` once the socket is bound and the app's
  lifespan has started (with ``--port 0`` the real port); on the first start it writes the new
  admin key to ``DATA_DIR/admin-key`` (mode 0600) and prints ``admin key file: <path>`` before
  that line: the key itself never goes to stdout (only its hash is stored).
- ``ilvb admin-key reset`` does the same with a new key.
- ``ilvb app create NAME --json`` prints ``{"app_id": ..., "secret": ..., ...}``.
- ``ilvb ticket ...`` prints the ticket alone on one line.

``app`` commands work on the store directly (no server needed); errors print
``error: <code>: <message>`` to stderr and exit with status 1 (2 for usage errors).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import uvicorn

from ilvb import __version__
from ilvb.config import Settings, load_settings
from ilvb.errors import IlvbError, InvalidArgument, NotFound
from ilvb.store.interfaces import AppRecord, AppStore

DEMO_APP_NAME = "demo"
LISTENING_PREFIX = "ilvb listening on "
LOG_LEVELS = ("critical", "error", "warning", "info", "debug", "trace")
ADMIN_KEY_FILE_PREFIX = "admin key file: "
# Where `ilvb ticket` reads the app secret when neither --secret nor --secret-file is given.
SECRET_ENV = "ILVB_APP_SECRET"
T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``ilvb`` script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "func"):
        parser.print_help()
        raise SystemExit(2)
    try:
        args.func(args)
    except IlvbError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for all subcommands."""
    parser = argparse.ArgumentParser(
        prog="ilvb", description="Self-hosted interactive live video broadcasting."
    )
    sub = parser.add_subparsers(metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the server (REST + signaling + media)")
    _store_options(serve)
    serve.add_argument("--host", help="listen address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="listen port (default 7880; 0 = any free port)")
    serve.add_argument(
        "--workers", type=int, help="media worker processes (0 = inside the server process)"
    )
    serve.add_argument("--no-media", action="store_true", help="signaling only, no media plane")
    serve.add_argument(
        "--demo", action="store_true", help=f"ensure an app named {DEMO_APP_NAME!r} exists"
    )
    serve.add_argument("--log-level", choices=LOG_LEVELS, help="default info")
    serve.set_defaults(func=_cmd_serve)

    app = sub.add_parser("app", help="manage apps in the store (no server needed)")
    app_sub = app.add_subparsers(metavar="ACTION")
    create = app_sub.add_parser("create", help="create an app: prints its id and secret")
    create.add_argument("name")
    _store_options(create, json_flag=True)
    create.set_defaults(func=_cmd_app_create)
    list_ = app_sub.add_parser("list", help="list apps (without secrets)")
    _store_options(list_, json_flag=True)
    list_.set_defaults(func=_cmd_app_list)
    show = app_sub.add_parser("show", help="one app, with its secret")
    show.add_argument("app_id")
    _store_options(show, json_flag=True)
    show.set_defaults(func=_cmd_app_show)
    rotate = app_sub.add_parser("rotate", help="replace an app's secret (old tickets stop working)")
    rotate.add_argument("app_id")
    _store_options(rotate, json_flag=True)
    rotate.set_defaults(func=_cmd_app_rotate)
    app.set_defaults(func=lambda _a: _usage(app))

    admin = sub.add_parser("admin-key", help="admin key maintenance")
    admin_sub = admin.add_subparsers(metavar="ACTION")
    reset = admin_sub.add_parser(
        "reset", help="replace the admin key; the new one goes to DATA_DIR/admin-key (0600)"
    )
    _store_options(reset)
    reset.set_defaults(func=_cmd_admin_reset)
    admin.set_defaults(func=lambda _a: _usage(admin))

    ticket = sub.add_parser(
        "ticket",
        help="sign a login ticket (what an app's server does)",
        description=f"The app secret comes from --secret-file, --secret=S or ${SECRET_ENV} "
        "(--secret puts it in the process list: prefer the file or the variable).",
    )
    ticket.add_argument("--app-id", required=True)
    secret = ticket.add_mutually_exclusive_group()
    secret.add_argument("--secret", help="the app secret (write --secret=S)")
    secret.add_argument(
        "--secret-file", type=Path, help="read the app secret from this file ('-': stdin)"
    )
    ticket.add_argument("--user", required=True, help="the user id inside the app")
    ticket.add_argument("--ttl", type=float, default=None, help="validity, seconds (3600)")
    ticket.add_argument("--room", help="restrict the ticket to this business room id")
    ticket.add_argument("--role", default="speaker", help="speaker (default) or audience")
    ticket.add_argument("--no-audio", action="store_true", help="may not send audio")
    ticket.add_argument("--no-video", action="store_true", help="may not send camera video")
    ticket.add_argument("--no-screen", action="store_true", help="may not share the screen")
    ticket.set_defaults(func=_cmd_ticket)

    version = sub.add_parser("version", help="print the version")
    version.set_defaults(func=lambda _a: print(f"ilvb {__version__}"))
    return parser


def _store_options(p: argparse.ArgumentParser, *, json_flag: bool = False) -> None:
    p.add_argument("--data-dir", help="data directory (default ./ilvb-data)")
    p.add_argument("--database-url", help="SQLAlchemy URL, e.g. postgresql://u:p@host/db")
    p.add_argument("--config", type=Path, help="TOML settings file")
    if json_flag:
        p.add_argument("--json", action="store_true", help="print JSON")


def _usage(p: argparse.ArgumentParser) -> None:
    p.print_help()
    raise SystemExit(2)


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Defaults → ``--config`` file → ``ILVB_`` environment → flags."""
    server: dict[str, Any] = {}
    for flag, key in (
        ("host", "host"),
        ("port", "port"),
        ("data_dir", "data_dir"),
        ("database_url", "database_url"),
    ):
        value = getattr(args, flag, None)
        if value is not None:
            server[key] = value
    overrides: dict[str, Any] = {"server": server}
    if getattr(args, "workers", None) is not None:
        overrides["media"] = {"workers": args.workers}
    if getattr(args, "log_level", None):
        overrides["log_level"] = args.log_level
    try:
        return load_settings(getattr(args, "config", None), **overrides)
    except (OSError, ValueError) as exc:
        # pydantic's ValidationError and tomllib's TOMLDecodeError are ValueErrors.
        raise InvalidArgument(message=f"bad settings: {exc}") from exc


def _open_store(settings: Settings) -> Any:
    from ilvb.store.files import secure_dir
    from ilvb.store.sql import SqlAppStore

    if settings.server.database_url is None:
        secure_dir(settings.server.data_dir)  # the SQLite file with the app secrets lives here

    return SqlAppStore(settings.server.resolved_database_url())


def _with_store(args: argparse.Namespace, work: Callable[[Any], Awaitable[T]]) -> T:
    settings = settings_from_args(args)

    async def run() -> T:
        store = _open_store(settings)
        await store.open()
        try:
            return await work(store)
        finally:
            await store.close()

    return asyncio.run(run())


def _app_json(app: AppRecord, *, secret: bool = True) -> dict[str, Any]:
    """The app as the admin REST API shows it (``AppDetails``, or ``AppSummary`` without secret)."""
    from ilvb.server.rest_apps import AppDetails, AppSummary

    return (AppDetails if secret else AppSummary).of(app).model_dump()


def _print_app(app: AppRecord, as_json: bool) -> None:
    if as_json:
        print(json.dumps(_app_json(app)))
        return
    for key, value in _app_json(app).items():
        print(f"{key}: {value}")


def _cmd_app_create(args: argparse.Namespace) -> None:
    from pydantic import ValidationError

    from ilvb.server.rest_apps import AppCreate

    try:
        name = AppCreate(name=args.name).name  # the same rules as POST /v1/apps
    except ValidationError as exc:
        raise InvalidArgument(
            message="the app name must be 1-200 printable characters, not all spaces, without "
            "invisible or direction-changing characters",
        ) from exc
    app = _with_store(args, lambda store: store.create_app(name))
    _print_app(app, args.json)


def _cmd_app_list(args: argparse.Namespace) -> None:
    apps: list[AppRecord] = _with_store(args, lambda store: store.list_apps())
    if args.json:
        print(json.dumps([_app_json(a, secret=False) for a in apps]))
        return
    for a in apps:
        print(f"{a.app_id}\t{'enabled' if a.enabled else 'disabled'}\t{a.name}")


def _cmd_app_show(args: argparse.Namespace) -> None:
    async def show(store: AppStore) -> AppRecord:
        app = await store.get_app(args.app_id)
        if app is None:
            raise NotFound("app_not_found", f"no app {args.app_id!r}")
        return app

    _print_app(_with_store(args, show), args.json)


def _cmd_app_rotate(args: argparse.Namespace) -> None:
    _print_app(_with_store(args, lambda store: store.rotate_secret(args.app_id)), args.json)


def _cmd_admin_reset(args: argparse.Namespace) -> None:
    from ilvb.auth.admin import reset_admin_key, save_admin_key

    key = _with_store(args, reset_admin_key)
    _report_admin_key(save_admin_key(settings_from_args(args).server.data_dir, key))


def _report_admin_key(path: Path) -> None:
    print(f"{ADMIN_KEY_FILE_PREFIX}{path}")
    print("  (the new admin key, readable by this user only: only its hash is stored;")
    print("   keep it, then delete the file; `ilvb admin-key reset` makes a new one)")


def _ticket_secret(args: argparse.Namespace) -> str:
    """The app secret: --secret, else --secret-file (one line; '-' = stdin), else the env."""
    if args.secret is not None:
        secret: str = args.secret
    elif args.secret_file is not None:
        try:
            raw = sys.stdin.read() if str(args.secret_file) == "-" else args.secret_file.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(message=f"cannot read --secret-file: {exc}") from exc
        secret = raw.strip()
    else:
        secret = os.environ.get(SECRET_ENV, "").strip()  # the CLI's input, not a setting
        if not secret:
            raise InvalidArgument(
                message=f"give the app secret with --secret-file, ${SECRET_ENV} or --secret=S"
            )
    if not secret:
        raise InvalidArgument(message="the app secret must not be empty")
    return secret


def _cmd_ticket(args: argparse.Namespace) -> None:
    from ilvb.auth.tickets import DEFAULT_TTL_S, MAX_CLAIM_CHARS, sign_ticket

    for flag, value in (("--app-id", args.app_id), ("--user", args.user), ("--role", args.role)):
        if not value or len(value) > MAX_CLAIM_CHARS:
            raise InvalidArgument(message=f"{flag} must be 1-{MAX_CLAIM_CHARS} characters")
    secret = _ticket_secret(args)
    ttl = DEFAULT_TTL_S if args.ttl is None else args.ttl
    if not ttl > 0:
        raise InvalidArgument(message="--ttl must be a positive number of seconds")
    ticket = sign_ticket(
        args.app_id,
        secret,
        args.user,
        ttl_s=ttl,
        room=args.room,
        role=args.role,
        audio=False if args.no_audio else None,
        video=False if args.no_video else None,
        screen=False if args.no_screen else None,
    )
    print(ticket)


# --- serve -----------------------------------------------------------------------------------


def _cmd_serve(args: argparse.Namespace) -> None:
    settings = settings_from_args(args)
    if settings.log_level.lower() not in LOG_LEVELS:
        raise InvalidArgument(message=f"log level must be one of {', '.join(LOG_LEVELS)}")
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop ships with uvicorn[standard]
        asyncio.run(_serve(settings, args))
    else:
        uvloop.run(_serve(settings, args))


async def _prepare_store(
    settings: Settings, demo: bool
) -> tuple[Path | None, AppRecord | None]:
    """First-start work: the data directory (0700), the admin key (written to its file) and,
    with ``--demo``, the demo app. Returns the new admin key's file, if one was made."""
    from ilvb.auth.admin import ensure_admin_key, save_admin_key
    from ilvb.store.files import secure_dir

    secure_dir(settings.server.data_dir)
    store = _open_store(settings)
    await store.open()
    try:
        new_key = await ensure_admin_key(store)
        key_file = None if new_key is None else save_admin_key(settings.server.data_dir, new_key)
        demo_app = None
        if demo:
            apps = [a for a in await store.list_apps() if a.name == DEMO_APP_NAME]
            demo_app = apps[0] if apps else await store.create_app(DEMO_APP_NAME)
            if not demo_app.enabled:
                demo_app = await store.update_app(demo_app.app_id, enabled=True)
        return key_file, demo_app
    finally:
        await store.close()


def url_host(host: str) -> str:
    """``host`` as it appears in a URL (IPv6 literals in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


async def _serve(settings: Settings, args: argparse.Namespace) -> None:
    from ilvb.server.app import create_app
    from ilvb.server.http_protocol import uvicorn_config

    key_file, demo_app = await _prepare_store(settings, args.demo)
    if key_file is not None:
        _report_admin_key(key_file)
    media = None
    if args.no_media:
        from ilvb.sfu.api import NullMediaPlane

        media = NullMediaPlane()
    app = create_app(settings, media=media, demo_app_id=demo_app.app_id if demo_app else None)
    host = settings.server.host

    def on_ready(port: int) -> None:
        base = f"http://{url_host(host)}:{port}"
        print(f"{LISTENING_PREFIX}{base}", flush=True)
        if demo_app is not None:
            ticket_cmd = shlex.join(
                [
                    "ilvb",
                    "ticket",
                    "--app-id",
                    demo_app.app_id,
                    f"--secret={demo_app.secret}",  # `=`: a secret may start with "-"
                    "--user",
                    "alice",
                ]
            )
            print(f"demo app id: {demo_app.app_id}")
            print(f"demo app secret: {demo_app.secret}")
            print(f"mint a ticket: {ticket_cmd}")
            print(f"demo page: {base}/demo", flush=True)

    config = uvicorn_config(app, settings.server, log_level=settings.log_level.lower())
    await ReadyServer(config, on_ready).serve()


class ReadyServer(uvicorn.Server):
    """A uvicorn server that calls ``on_ready(port)`` once it is bound and its lifespan started."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[int], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        """Bind (uvicorn), then report the real port."""
        await super().startup(sockets=sockets)
        if self.started and not self.should_exit:
            self._on_ready(int(self.servers[0].sockets[0].getsockname()[1]))
