"""The documented verify helper: a genuine delivery verifies; tampering of any part fails."""

from __future__ import annotations

import json

import pytest

from ilvb.errors import Unauthenticated
from ilvb.webhooks.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_headers,
    verify_webhook,
)

SECRET = "app-secret-0123456789"
NOW = 1_800_000_000.0
BODY = json.dumps({"id": 7, "type": "member.joined", "data": {"user": "ann"}}).encode()


def test_a_genuine_delivery_verifies_and_returns_the_event() -> None:
    headers = sign_headers(SECRET, 7, BODY, NOW)
    assert verify_webhook(SECRET, BODY, headers, now=NOW + 10)["data"] == {"user": "ann"}
    # header names are case-insensitive, as HTTP's
    upper = {k.upper(): v for k, v in headers.items()}
    assert verify_webhook(SECRET, BODY, upper, now=NOW)["id"] == 7


@pytest.mark.parametrize(
    "body",
    [
        BODY.replace(b"ann", b"bob"),
        BODY + b" ",
        BODY.replace(b"7", b"8", 1),
    ],
)
def test_a_tampered_body_fails(body: bytes) -> None:
    headers = sign_headers(SECRET, 7, BODY, NOW)
    with pytest.raises(Unauthenticated) as err:
        verify_webhook(SECRET, body, headers, now=NOW)
    assert err.value.code == "webhook_signature_invalid"


def test_another_secret_a_moved_timestamp_or_missing_headers_fail() -> None:
    headers = sign_headers(SECRET, 7, BODY, NOW)
    with pytest.raises(Unauthenticated):
        verify_webhook("another-secret", BODY, headers, now=NOW)
    with pytest.raises(Unauthenticated):  # the signature covers the timestamp
        verify_webhook(SECRET, BODY, {**headers, TIMESTAMP_HEADER: str(int(NOW) + 1)}, now=NOW)
    with pytest.raises(Unauthenticated, match="tolerance"):  # a replay 10 minutes later
        verify_webhook(SECRET, BODY, headers, now=NOW + 600)
    assert verify_webhook(SECRET, BODY, headers, now=NOW + 600, tolerance_s=900)["id"] == 7
    for name in (SIGNATURE_HEADER, TIMESTAMP_HEADER):
        with pytest.raises(Unauthenticated, match="missing"):
            verify_webhook(SECRET, BODY, {k: v for k, v in headers.items() if k != name}, now=NOW)
    with pytest.raises(Unauthenticated):
        verify_webhook(SECRET, BODY, {**headers, SIGNATURE_HEADER: "v1=" + "0" * 64}, now=NOW)
