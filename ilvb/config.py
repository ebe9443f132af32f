"""One configuration path: typed defaults → optional TOML file → ``ILVB_`` environment → flags.

Validated once at start-up; each component receives only its own section (``settings.rooms``,
``settings.media`` …). No other module reads ``os.environ``. Nested environment variables use a
double underscore: ``ILVB_ROOMS__DISCONNECT_TIMEOUT_S=5``.

Imports only ``ilvb.errors``; must not import the packages it configures.
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cpu_count() -> int:
    return max(1, os.cpu_count() or 1)


def _fastpath_default() -> bool:
    # MediaSettings is also built directly (bench/ilvb_server.py): honour the same variable
    return os.environ.get("ILVB_MEDIA__FASTPATH", "1").strip().lower() not in ("0", "false", "no")


class ServerSettings(BaseModel):
    """HTTP/WebSocket listener and storage."""

    host: str = "127.0.0.1"
    port: int = Field(7880, ge=0, le=65535)
    data_dir: Path = Path("./ilvb-data")
    # SQLAlchemy async URL; default: SQLite file under data_dir.
    database_url: str | None = None
    # Largest signaling frame accepted, in bytes; larger frames get `message_too_large`.
    ws_max_message_bytes: int = Field(64 * 1024, ge=1024)
    # Client heartbeat: the server expects a ping at least every interval.
    heartbeat_interval_s: float = Field(10.0, gt=0)

    # --- HTTP hardening (docs/security.md, "HTTP") ---
    # Largest HTTP request body, in bytes; larger ones get 413 `body_too_large`, unread.
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    # Largest request line + headers, in bytes; larger get 431 `headers_too_large`, closed.
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    # The request line and headers must arrive within this time of the connection opening
    # (or of the previous response on a kept-alive connection); a silent connection is closed.
    http_header_timeout_s: float = Field(10.0, gt=0)
    # The whole body must arrive within this time of the headers.
    http_body_timeout_s: float = Field(30.0, gt=0)
    # An idle kept-alive connection is closed after this long.
    http_keep_alive_timeout_s: float = Field(5.0, gt=0)
    # Open connections (HTTP and WebSocket together); one more is answered 503 and closed.
    # Default: a full room (rooms.max_members); never more than the process's open-file limit
    # less a reserve for its own files (so accept() never runs out of descriptors).
    max_connections: int = Field(50_000, ge=1)

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'ilvb.db').resolve()}"


class RoomSettings(BaseModel):
    """Room and member rules: the disconnect window, sender caps, views, room size, fan-out.

    Per-app overrides (the sender caps) live in the app record.
    """

    # A member whose connection is gone this long is removed (it may resume until then).
    disconnect_timeout_s: float = Field(30.0, gt=0)
    audio_sender_cap: int = Field(6, ge=1, le=64)
    # Loudest audio streams forwarded to each listener (the SFU picks them), whatever the sender
    # cap; the receive transport has this many audio slots.
    audio_slots: int = Field(6, ge=1, le=16)
    video_sender_cap: int = Field(4, ge=1, le=64)
    max_views: int = Field(4, ge=1, le=16)
    max_members: int = Field(50_000, ge=2)
    # Enter/exit events are coalesced for this long before fan-out in large rooms.
    event_batch_ms: float = Field(50.0, ge=0)
    # Rooms with at least this many members use batching; smaller ones send at once.
    event_batch_min_members: int = Field(50, ge=1)
    # Ticket roles holding the stage right: invite on stage, take off stage, see raised hands,
    # mute others, stop their screen share, mute all, lock the room.
    stage_roles: list[str] = Field(default_factory=lambda: ["host", "teacher"], max_length=32)
    # A stage invitation not answered this long expires (stage.expired).
    stage_invite_ttl_s: float = Field(30.0, gt=0, le=3600)


class MediaSettings(BaseModel):
    """The media plane (SFU workers)."""

    # Worker processes; 0 runs one worker inside the server process (tests, tiny installs).
    workers: int = Field(default_factory=_cpu_count, ge=0, le=256)
    # Address put into ICE candidates.
    announced_ip: str = "127.0.0.1"
    # Port put into ICE candidates: worker i announces announced_port + i. 0 = the port the
    # worker listens on. Set it when a relay or port forward sits in front of the workers
    # (the impairment relay of the tests and benchmarks).
    announced_port: int = Field(0, ge=0, le=65535)
    # Address the UDP sockets bind to.
    bind_ip: str = "127.0.0.1"
    # First UDP port; worker i listens on udp_port + i. 0 = ephemeral ports.
    udp_port: int = Field(0, ge=0, le=65535)
    # PLI/FIR relayed to a publisher at most this often.
    keyframe_request_interval_s: float = Field(1.0, ge=0)
    # Packets kept per video stream for NACK answers (power of two).
    nack_cache_packets: int = Field(1024, ge=64)
    # Forward through the compiled extension ilvb.sfu.fastpath (header rewrite + SRTP + sendmmsg
    # in C) when it was built at install; False (or ILVB_MEDIA__FASTPATH=0) = pure Python.
    fastpath: bool = Field(default_factory=_fastpath_default)


class SmtpSettings(BaseModel):
    """Where billing notices are e-mailed. No ``host``: notices stay site messages only."""

    host: str | None = None
    port: int = Field(587, ge=1, le=65535)
    # "starttls" (upgrade a plain connection), "tls" (implicit TLS, usually port 465) or "none".
    security: str = Field("starttls", pattern="^(starttls|tls|none)$")
    username: str | None = None
    password: str | None = Field(None, repr=False)
    sender: str = "ilvb <billing@localhost>"
    timeout_s: float = Field(10.0, gt=0)


class BillingSection(BaseModel):
    """The billing calendar and its notices."""

    # Settlement of last month on this day (the 5th to the 8th), suspension from suspend_day.
    settlement_day: int = Field(5, ge=5, le=8)
    suspend_day: int = Field(20, ge=9, le=28)
    # How often the server runs the due billing jobs and delivers notices; 0 = never (tests
    # and operators then use POST /v1/billing/run).
    jobs_interval_s: float = Field(60.0, ge=0)
    smtp: SmtpSettings = SmtpSettings()


class SignalingSettings(BaseModel):
    """Per-connection and per-user limits of the signaling WebSocket (docs/security.md)."""

    # Bytes of replies and events queued for one connection before it is cut (close 4429).
    max_queued_bytes: int = Field(8 * 1024 * 1024, ge=64 * 1024)
    # Frames queued for one connection before it is cut (close 4429), whatever their size.
    max_queued_frames: int = Field(20_000, ge=10)
    # Above this many queued bytes the server stops reading the connection's requests until the
    # client has read its replies; still above it after pushback_timeout_s, the connection is
    # cut (close 4429).
    pushback_bytes: int = Field(1024 * 1024, ge=1024)
    pushback_timeout_s: float = Field(10.0, gt=0)
    # Token buckets (sustained requests per second, burst). Every request counts against its
    # connection's and its user's bucket (a user's connections share one, per app); room.enter
    # also counts against the stricter enter buckets. A refused request gets `rate_limited`.
    connection_requests_per_s: float = Field(50.0, gt=0)
    connection_request_burst: int = Field(100, ge=1)
    user_requests_per_s: float = Field(100.0, gt=0)
    user_request_burst: int = Field(200, ge=1)
    connection_enters_per_s: float = Field(2.0, gt=0)
    connection_enter_burst: int = Field(10, ge=1)
    user_enters_per_s: float = Field(4.0, gt=0)
    user_enter_burst: int = Field(20, ge=1)
    # A connection whose requests were refused this many times in a row is cut (close 4429).
    max_refused_in_a_row: int = Field(200, ge=1)


class AuthSettings(BaseModel):
    """Ticket and server-token lifetimes, clock skew, revocation (docs/security.md)."""

    # Longest lifetime accepted for a login ticket (exp - iat, and exp - now).
    max_ticket_ttl_s: float = Field(24 * 3600.0, gt=0)
    # Longest lifetime accepted for an app server's REST bearer token.
    max_server_token_ttl_s: float = Field(3600.0, gt=0)
    # How far in the future `iat` may be (clocks of the app server and ilvb disagree a little).
    clock_skew_s: float = Field(60.0, ge=0)
    # Live sessions re-check their app this often: a disabled app, or a secret rotated since
    # the session's ticket was verified, ends them (room.exited "revoked", close 4401).
    revalidate_interval_s: float = Field(10.0, gt=0)
    # ... after this grace period (time to move to a ticket signed with the new secret through
    # session.refresh); 0 ends them at the next check.
    revoke_grace_s: float = Field(0.0, ge=0)


class OidcSettings(BaseModel):
    """Verifying third-party ID tokens (ilvb.auth.oidc, docs/identity.md)."""

    # How long a provider's discovery document and JWKS are used before they are fetched again.
    jwks_ttl_s: float = Field(300.0, gt=0)
    # An ID token with an unknown `kid` refetches the JWKS at most this often per issuer.
    refetch_interval_s: float = Field(30.0, ge=0)
    # Tolerance for exp / nbf / iat (the provider's clock and ilvb's disagree a little).
    leeway_s: float = Field(30.0, ge=0, le=300)
    # Timeout of one request to a provider (discovery or JWKS).
    timeout_s: float = Field(5.0, gt=0, le=60)
    # Discovery and JWKS requests go to public addresses only (no requests into the server's own
    # network on behalf of whoever configures an app's providers); these hosts (as written in
    # the issuer or jwks_uri, e.g. "127.0.0.1", "idp.corp.internal") may be internal.
    internal_hosts: list[str] = Field(default_factory=list, max_length=100)


class LiveSettings(BaseModel):
    """Room composites (recorder processes) and bypass live: HLS and RTMP (docs/recording.md)."""

    # Composite picture: "640x480" or "1280x720"; 30 fps H.264 + AAC.
    resolution: str = Field("640x480", pattern=r"^(640x480|1280x720)$")
    fps: int = Field(30, ge=5, le=60)
    # libx264 preset and threads per composite (one thread keeps each job's cost measurable).
    preset: str = Field("veryfast", pattern=r"^[a-z]+$")
    encoder_threads: int = Field(1, ge=0, le=16)
    ffmpeg: str = "ffmpeg"
    # Admission: cores all composites of this node may use, and the cost of one composite
    # before it was measured here (bench/recording.py measures both resolutions).
    cpu_budget_cores: float = Field(default_factory=lambda: round(_cpu_count() * 0.8, 2), gt=0)
    cost_640x480_cores: float = Field(0.35, gt=0)
    cost_1280x720_cores: float = Field(0.9, gt=0)
    max_jobs: int = Field(16, ge=0)
    # HLS: segment length (seconds, one keyframe per second) and playlist length (segments).
    hls_segment_s: float = Field(1.0, ge=1.0, le=2.0)
    hls_list_size: int = Field(6, ge=3, le=30)
    # RTMP push URLs per live room.
    max_rtmp_urls: int = Field(5, ge=0, le=20)


class RecordingSettings(BaseModel):
    """Cloud recording (ilvb.recording, docs/recording.md)."""

    # Where recordings' files go; default <server.data_dir>/recordings.
    directory: Path | None = None

    def resolved_directory(self, data_dir: Path) -> Path:
        """The recordings directory, absolute."""
        return (self.directory or data_dir / "recordings").resolve()


class ConsoleSettings(BaseModel):
    """Console sign-in of customer accounts (docs/console.md, docs/security.md "Console")."""

    # Anyone may create an account at POST /v1/signup (otherwise operators create them).
    self_signup: bool = False
    # A console session ends this long after sign-in.
    session_ttl_s: float = Field(12 * 3600.0, gt=0)
    # At most this many failed sign-ins per e-mail and per client address per window.
    login_attempts: int = Field(5, ge=1)
    login_window_s: float = Field(300.0, gt=0)
    # The console's origin as browsers see it (e.g. "https://ilvb.example.com" behind a TLS
    # proxy); unset: the request's own scheme and Host. Session requests from elsewhere fail.
    public_origin: str | None = Field(None, pattern=r"^https?://[^/\s]+$")


class MetricsSettings(BaseModel):
    """``GET /metrics`` (Prometheus, docs/operations.md).

    The scrape needs a credential: the admin key, or this ``token`` as a bearer token (give
    the scraper the token, not the admin key). ``open_on_loopback`` lets a scraper on the same
    host (127.0.0.0/8, ::1) in without one; off by default.
    """

    token: str | None = Field(None, min_length=16, repr=False)
    open_on_loopback: bool = False


class WebhookSettings(BaseModel):
    """Webhooks to the apps' servers (docs/operations.md): retries, timeouts, retention."""

    # False: no events are written or sent (the pull API then has nothing new).
    enabled: bool = True
    # One delivery attempt's timeout.
    timeout_s: float = Field(5.0, gt=0, le=60)
    # Back-off of a failing endpoint: first wait, growth per failure, longest wait.
    retry_initial_s: float = Field(1.0, gt=0)
    retry_factor: float = Field(2.0, ge=1)
    retry_max_s: float = Field(300.0, gt=0)
    # Events (delivered or not) are kept this long, for retries and for the pull API.
    retention_s: float = Field(7 * 24 * 3600.0, gt=0)
    # Rooms delivered at once (the events of one room always one after the other).
    concurrency: int = Field(16, ge=1, le=1024)


class ClusterSettings(BaseModel):
    """Cluster mode (docs/operations.md): nodes register in Redis; smart access places rooms.

    Without ``redis_url`` the node runs alone, as it always did.
    """

    # redis://host:6379/0 (rediss:// for TLS). None: a single node, no registry.
    redis_url: str | None = Field(None, repr=False)
    # This node's id in the cluster; None: "<hostname>-<port>".
    node_id: str | None = Field(None, max_length=128)
    # The region this node serves (an operator's name: "eu-west", "cn-north" …).
    region: str = Field("", max_length=64)
    # The base URL clients reach this node at (https://node1.example.com); None: the
    # server's own http://host:port.
    public_url: str | None = None
    heartbeat_s: float = Field(2.0, gt=0)
    # A node not heard of for this long is dead (its key expires in Redis).
    ttl_s: float = Field(6.0, gt=0)
    key_prefix: str = Field("ilvb", min_length=1, max_length=64)


class Settings(BaseSettings):
    """All settings. Build with :func:`load_settings`."""

    model_config = SettingsConfigDict(env_prefix="ILVB_", env_nested_delimiter="__", extra="ignore")

    server: ServerSettings = ServerSettings()
    rooms: RoomSettings = RoomSettings()
    media: MediaSettings = MediaSettings()
    billing: BillingSection = BillingSection()
    signaling: SignalingSettings = SignalingSettings()
    auth: AuthSettings = AuthSettings()
    oidc: OidcSettings = OidcSettings()
    live: LiveSettings = LiveSettings()
    recording: RecordingSettings = RecordingSettings()
    console: ConsoleSettings = ConsoleSettings()
    metrics: MetricsSettings = MetricsSettings()
    webhooks: WebhookSettings = WebhookSettings()
    cluster: ClusterSettings = ClusterSettings()
    log_level: str = "info"


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Defaults, then ``config_file`` (TOML), then ``ILVB_`` environment, then ``overrides``.

    ``overrides`` are section dicts, e.g. ``load_settings(server={"port": 0})``.
    """
    file_values: dict[str, Any] = {}
    if config_file is not None:
        with open(config_file, "rb") as f:
            file_values = tomllib.load(f)
    env_values = Settings().model_dump(exclude_unset=True)
    merged = _deep_merge(_deep_merge(file_values, env_values), overrides)
    return Settings.model_validate(merged)


def _deep_merge(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out
