"""Typed errors with stable codes, shared by REST, WebSocket signaling and both SDKs.

Every error the product reports carries a machine-readable ``code`` (stable, documented in
``docs/protocol.md``) and a human ``message``. One table maps each code to an HTTP status and
a WebSocket close code, so REST replies, signaling error replies and SDK exceptions agree.

Raise the most specific class; pass ``code`` when a class covers several codes::

    raise LimitExceeded("audio_sender_limit", "6 members already send audio (limit 6)")

Every package imports it, so it imports no other ilvb module (and must not import any).
"""

from __future__ import annotations

from typing import Any, ClassVar


class IlvbError(Exception):
    """Base of all ilvb errors: a stable ``code``, a ``message`` and optional ``details``."""

    default_code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(
        self, code: str | None = None, message: str = "", details: dict[str, Any] | None = None
    ) -> None:
        self.code = code or self.default_code
        self.message = message or self.code.replace("_", " ")
        self.details = details or {}
        super().__init__(f"{self.code}: {self.message}")

    def to_dict(self) -> dict[str, Any]:
        """The wire form used in REST bodies and signaling error replies."""
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.details:
            body["details"] = self.details
        return body


class InvalidArgument(IlvbError):
    """The request is malformed or a field is out of range."""

    default_code = "invalid_argument"
    http_status = 400


class Unauthenticated(IlvbError):
    """No credential, or a credential that does not verify (ticket, app signature, admin key)."""

    default_code = "unauthenticated"
    http_status = 401


class PermissionDenied(IlvbError):
    """The caller is known but may not do this."""

    default_code = "permission_denied"
    http_status = 403


class NotFound(IlvbError):
    """The named app, room or member does not exist."""

    default_code = "not_found"
    http_status = 404


class InvalidState(IlvbError):
    """The request is valid but not in the current state (e.g. publish before entering)."""

    default_code = "invalid_state"
    http_status = 409


class LimitExceeded(IlvbError):
    """A product limit was reached (sender caps, view cap, call size, frame size)."""

    default_code = "limit_exceeded"
    http_status = 429


class RequestTimeout(InvalidArgument):
    """An HTTP request (line, headers or body) did not arrive in time; the connection closes."""

    default_code = "request_timeout"
    http_status = 408


class BodyTooLarge(LimitExceeded):
    """An HTTP request body over ``server.max_body_bytes``; it is refused unread (413)."""

    default_code = "body_too_large"
    http_status = 413


class HeadersTooLarge(LimitExceeded):
    """An HTTP request line + headers over ``server.max_header_bytes`` (431; connection closed)."""

    default_code = "headers_too_large"
    http_status = 431


class Unavailable(IlvbError):
    """The service (or the media plane, or the account) cannot serve the request now."""

    default_code = "unavailable"
    http_status = 503


# Every code the server or either SDK emits -> its class (which gives the HTTP status).
# docs/protocol.md lists the same; tests/test_error_codes.py checks both against the sources.
CODES: dict[str, type[IlvbError]] = {
    # generic
    "internal_error": IlvbError,
    "invalid_argument": InvalidArgument,
    "invalid_json": InvalidArgument,
    "unknown_type": InvalidArgument,
    "message_too_large": LimitExceeded,
    "unsupported_protocol": InvalidArgument,
    "request_timeout": RequestTimeout,
    # authentication
    "unauthenticated": Unauthenticated,
    "ticket_malformed": Unauthenticated,
    "ticket_expired": Unauthenticated,
    "ticket_lifetime_exceeded": Unauthenticated,
    "ticket_bad_signature": Unauthenticated,
    "ticket_wrong_app": Unauthenticated,
    "ticket_wrong_room": PermissionDenied,
    "banned": PermissionDenied,
    "admin_key_required": Unauthenticated,
    "metrics_credential_required": Unauthenticated,
    "webhook_signature_invalid": Unauthenticated,
    "app_signature_required": Unauthenticated,
    # console sign-in of customer accounts (ilvb.server.console_auth, /v1/session)
    "session_required": Unauthenticated,
    "invalid_credentials": Unauthenticated,
    "csrf_failed": PermissionDenied,
    "signup_closed": PermissionDenied,
    "weak_password": InvalidArgument,
    # third-party identities (ilvb.auth.oidc): an ID token presented in hello
    "oidc_malformed": Unauthenticated,
    "oidc_unknown_issuer": Unauthenticated,
    "oidc_wrong_audience": Unauthenticated,
    "oidc_expired": Unauthenticated,
    "oidc_not_yet_valid": Unauthenticated,
    "oidc_bad_signature": Unauthenticated,
    "oidc_algorithm_refused": Unauthenticated,
    "oidc_provider_unavailable": Unavailable,
    "invalid_identity_provider": InvalidArgument,
    # permissions and state
    "permission_denied": PermissionDenied,
    "not_in_room": InvalidState,
    "already_in_room": InvalidState,
    "invalid_state": InvalidState,
    "not_found": NotFound,
    "app_not_found": NotFound,
    "room_not_found": NotFound,
    "member_not_found": NotFound,
    # stage and room controls (ilvb.rooms.stage, ilvb.rooms.controls)
    "stage_right_required": PermissionDenied,
    "invite_not_found": NotFound,
    "invite_not_for_you": PermissionDenied,
    "invite_already_answered": InvalidState,
    "invite_expired": InvalidState,
    "invite_pending": InvalidState,
    "already_on_stage": InvalidState,
    "not_on_stage": InvalidState,
    "room_locked": PermissionDenied,
    # limits
    "audio_sender_limit": LimitExceeded,
    "video_sender_limit": LimitExceeded,
    "view_limit": LimitExceeded,
    "call_full": LimitExceeded,
    "limit_exceeded": LimitExceeded,
    "rate_limited": LimitExceeded,
    "body_too_large": BodyTooLarge,
    "headers_too_large": HeadersTooLarge,
    # availability
    "unavailable": Unavailable,
    "timeout": Unavailable,
    "media_unavailable": Unavailable,
    "not_ready": Unavailable,
    "device_unavailable": Unavailable,
    # local devices and SDK logs (ilvb.client.devices, ilvb.client.logs, /v1/apps/{id}/logs)
    "device_not_found": NotFound,
    "device_busy": InvalidState,
    "unsupported_feature": InvalidState,
    "log_quota_exceeded": LimitExceeded,
    # billing (ilvb.billing, /v1/accounts)
    "account_not_found": NotFound,
    "account_suspended": PermissionDenied,
    "email_taken": InvalidState,
    "app_owned": InvalidState,
    "invalid_amount": InvalidArgument,
    "invalid_price_plan": InvalidArgument,
    # quality profiles (ilvb.quality, /v1/apps/{app_id}/quality)
    "invalid_quality_profile": InvalidArgument,
    "unknown_template": InvalidArgument,
    # room composites and bypass live (ilvb.live, /v1/apps/{app_id}/rooms/{room}/live)
    "room_no_senders": InvalidState,
    "live_already_started": InvalidState,
    "live_not_found": NotFound,
    "rtmp_url_invalid": InvalidArgument,
    "composite_capacity": Unavailable,
    "recorder_failed": Unavailable,
    # recording (ilvb.recording, /v1/apps/{app_id}/recordings)
    "recording_not_found": NotFound,
    "recording_file_not_found": NotFound,
    "recording_already_running": InvalidState,
    "recording_mode_unavailable": Unavailable,
    "invalid_file_name": InvalidArgument,
    # media negotiation (ilvb.sfu.sdp)
    "invalid_sdp": InvalidArgument,
    "unsupported_codec": InvalidArgument,
}

# WebSocket close codes the server sends (4000-4999 are application-defined, RFC 6455 §7.4.2).
# A refused ``hello`` closes with its error class's code; the others end a session on purpose.
CLOSE_INVALID_ARGUMENT = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_PERMISSION_DENIED = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_HEARTBEAT_TIMEOUT = 4408
CLOSE_REPLACED = 4409
CLOSE_LIMIT_EXCEEDED = 4429
CLOSE_INTERNAL_ERROR = 4500
CLOSE_UNAVAILABLE = 4503

# Every close code -> what it means (docs/protocol.md lists the same).
CLOSE_CODES: dict[int, str] = {
    CLOSE_INVALID_ARGUMENT: "hello refused: malformed, or an unsupported protocol version",
    CLOSE_UNAUTHENTICATED: "hello refused: the ticket does not verify",
    CLOSE_PERMISSION_DENIED: "hello refused: the ticket does not allow this",
    CLOSE_NOT_FOUND: "hello refused: an unknown app",
    CLOSE_HEARTBEAT_TIMEOUT: "the client was silent for 3 heartbeat intervals",
    CLOSE_REPLACED: "the session was resumed on another connection (also InvalidState)",
    CLOSE_LIMIT_EXCEEDED: "slow consumer or rate limited (also LimitExceeded)",
    CLOSE_INTERNAL_ERROR: "an internal error ended the connection",
    CLOSE_UNAVAILABLE: "the service cannot serve this connection now",
}

WS_CLOSE_CODES: dict[type[IlvbError], int] = {
    IlvbError: CLOSE_INTERNAL_ERROR,
    InvalidArgument: CLOSE_INVALID_ARGUMENT,
    Unauthenticated: CLOSE_UNAUTHENTICATED,
    PermissionDenied: CLOSE_PERMISSION_DENIED,
    NotFound: CLOSE_NOT_FOUND,
    InvalidState: CLOSE_REPLACED,
    LimitExceeded: CLOSE_LIMIT_EXCEEDED,
    Unavailable: CLOSE_UNAVAILABLE,
}


def error_from_dict(body: dict[str, Any]) -> IlvbError:
    """Rebuild a typed error from its wire form (used by the SDKs, as mediasoup's Channel does)."""
    code = str(body.get("code", "internal_error"))
    cls = CODES.get(code, IlvbError)
    return cls(code, str(body.get("message", "")), body.get("details") or None)


def ws_close_code(error: IlvbError) -> int:
    """The WebSocket close code for an error that ends a connection."""
    for cls in type(error).__mro__:
        if cls in WS_CLOSE_CODES:
            return WS_CLOSE_CODES[cls]
    return CLOSE_INTERNAL_ERROR
