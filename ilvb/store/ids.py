"""Identifier and secret generation."""

from __future__ import annotations

import secrets


def new_app_id() -> str:
    """A public app id, e.g. ``app_3kq9x2mfa1``."""
    return "app_" + secrets.token_hex(6)


def new_secret() -> str:
    """A 256-bit signing secret, URL-safe, never starting with ``-``.

    (A leading ``-`` made ``ilvb ticket --secret S`` read the secret as an option.)
    """
    while True:
        secret = secrets.token_urlsafe(32)
        if not secret.startswith("-"):
            return secret
