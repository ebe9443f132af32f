"""The body of every REST error reply, declared once so the OpenAPI document lists it once."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class ErrorDetail(BaseModel):
    """A typed error: stable ``code`` (see docs/protocol.md) and a human ``message``."""

    code: str
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Body of every error reply: ``{"error": {"code", "message"}}``."""

    error: ErrorDetail


def error_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """FastAPI ``responses=`` for these HTTP statuses, each with the codes it may carry."""
    return {status: {"model": ErrorBody, "description": d} for status, d in descriptions.items()}
