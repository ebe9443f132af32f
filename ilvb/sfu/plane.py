"""Factory for the media plane used by ``ilvb serve`` (placeholder until the SFU workers land)."""

from __future__ import annotations

from ilvb.config import MediaSettings
from ilvb.sfu.api import MediaPlane, NullMediaPlane


def create_media_plane(settings: MediaSettings) -> MediaPlane:
    """Build the media plane for these settings."""
    return NullMediaPlane()
