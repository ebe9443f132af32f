"""Signing and verifying a webhook delivery: HMAC-SHA256 over ``<timestamp>.<body>``.

Every delivery carries three headers:

* ``ilvb-webhook-id``: the event's sequence number (unique per server; a receiver that sees an
  id twice ignores the second: a delivery whose answer was lost is sent again);
* ``ilvb-webhook-timestamp``: when this attempt was signed, Unix seconds;
* ``ilvb-webhook-signature``: ``v1=<hex>``, HMAC-SHA256 keyed with the app's secret over the
  timestamp, a dot, and the raw body bytes.

A receiver checks with :func:`verify_webhook` before parsing the body; it refuses a timestamp
further than ``tolerance_s`` (5 minutes) from its clock, so a captured delivery cannot be
replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from typing import Any

from ilvb.errors import Unauthenticated

ID_HEADER = "ilvb-webhook-id"
TIMESTAMP_HEADER = "ilvb-webhook-timestamp"
SIGNATURE_HEADER = "ilvb-webhook-signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300.0


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """``v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>``."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"{SCHEME}={mac.hexdigest()}"


def sign_headers(secret: str, event_id: int, body: bytes, now: float) -> dict[str, str]:
    """The headers of one delivery attempt of ``body``, signed at ``now``."""
    ts = int(now)
    return {
        "content-type": "application/json",
        ID_HEADER: str(event_id),
        TIMESTAMP_HEADER: str(ts),
        SIGNATURE_HEADER: signature(secret, ts, body),
    }


def verify_webhook(
    secret: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    tolerance_s: float = DEFAULT_TOLERANCE_S,
    now: float | None = None,
) -> dict[str, Any]:
    """Check a delivery and return its event (the parsed body).

    ``headers``: the request's headers (any mapping; names are matched case-insensitively).
    Raises :class:`~ilvb.errors.Unauthenticated` ``webhook_signature_invalid`` when a header
    is missing, the timestamp is off by more than ``tolerance_s``, or the signature does not
    match the body (a tampered body, another app's secret).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    ts, sig = lower.get(TIMESTAMP_HEADER), lower.get(SIGNATURE_HEADER)
    if not ts or not sig:
        raise _invalid("missing ilvb-webhook-timestamp or ilvb-webhook-signature")
    try:
        when = int(ts)
    except ValueError:
        raise _invalid("malformed timestamp") from None
    current = time.time() if now is None else now
    if abs(current - when) > tolerance_s:
        raise _invalid("timestamp outside the tolerance (replayed, or clocks disagree)")
    expected = signature(secret, ts, body)
    if not any(hmac.compare_digest(expected, s.strip()) for s in sig.split(",")):
        raise _invalid("signature does not match the body")
    try:
        event = json.loads(body)
    except ValueError:
        raise _invalid("the body is not JSON") from None
    if not isinstance(event, dict):
        raise _invalid("the body is not a JSON object")
    return event


def _invalid(message: str) -> Unauthenticated:
    return Unauthenticated("webhook_signature_invalid", message)
