"""Who may send what: a member's permissions and its ticket's ceiling.

Each source is governed by one permission flag; :data:`SOURCE_FLAG` is the one map between
them (the MemberState wire object names its ``sending``/``muted`` flags the same way).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ilvb.sfu.api import Source

Flag = Literal["audio", "video", "screen"]
SOURCE_FLAG: dict[Source, Flag] = {"microphone": "audio", "camera": "video", "screen": "screen"}
FLAG_SOURCE: dict[Flag, Source] = {flag: source for source, flag in SOURCE_FLAG.items()}


@dataclass(frozen=True)
class Permissions:
    """May send microphone audio / camera video / screen sharing."""

    audio: bool = True
    video: bool = True
    screen: bool = True

    def allows(self, source: Source) -> bool:
        """Whether this permission set lets the member send ``source``."""
        return bool(getattr(self, SOURCE_FLAG[source]))

    def with_changes(self, changes: dict[str, bool]) -> Permissions:
        """A copy with the given flags replaced."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, bool]:
        """``{"audio": …, "video": …, "screen": …}``."""
        return {"audio": self.audio, "video": self.video, "screen": self.screen}
