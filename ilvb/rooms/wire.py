"""The control plane's wire frames: server events and the objects they carry (docs/protocol.md).

Every frame a room sends its members is encoded here, compactly, so the JSON shape of an event
is written once.
"""

from __future__ import annotations

import json
from typing import Any


def dumps(value: Any) -> str:
    """Compact JSON."""
    return json.dumps(value, separators=(",", ":"))


def event_frame(name: str, data: dict[str, Any]) -> str:
    """One server event as a compact JSON text frame."""
    return dumps({"type": "event", "event": name, "data": data})
