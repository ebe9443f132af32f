"""Who may send what: a member's permissions and its ticket's ceiling (MISSION §3)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from ilvb.errors import InvalidArgument
from ilvb.sfu.api import SOURCES, Source

# Each source is governed by one permission flag.
SOURCE_PERMISSION: dict[str, str] = {"microphone": "audio", "camera": "video", "screen": "screen"}
PERMISSION_SOURCE: dict[str, Source] = {
    "audio": "microphone",
    "video": "camera",
    "screen": "screen",
}
PERMISSION_KEYS: tuple[str, ...] = ("audio", "video", "screen")


@dataclass(frozen=True)
class Permissions:
    """May send microphone audio / camera video / screen sharing."""

    audio: bool = True
    video: bool = True
    screen: bool = True

    def allows(self, source: str) -> bool:
        """Whether this permission set lets the member send ``source``."""
        return bool(getattr(self, SOURCE_PERMISSION[source]))

    def with_changes(self, changes: dict[str, bool]) -> Permissions:
        """A copy with the given flags replaced."""
        return replace(self, **changes)

    def within(self, ceiling: Permissions) -> bool:
        """True when nothing granted here is missing from ``ceiling``."""
        return all(ceiling.allows(src) or not self.allows(src) for src in SOURCES)

    def to_dict(self) -> dict[str, bool]:
        """``{"audio": …, "video": …, "screen": …}``."""
        return {"audio": self.audio, "video": self.video, "screen": self.screen}


def parse_source(value: object) -> Source:
    """Validate a source name; ``invalid_argument`` otherwise."""
    if value not in SOURCE_PERMISSION:
        raise InvalidArgument("invalid_argument", "source must be microphone, camera or screen")
    return value  # type: ignore[return-value]
