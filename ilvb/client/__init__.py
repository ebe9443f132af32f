"""ilvb.client: the Python client SDK (signaling, rooms, calls, publishing, remote media).

Speaks docs/protocol.md over one WebSocket and sends/receives media with aiortc. Imports only
``ilvb.errors`` (the typed errors both ends share). Must not import ``ilvb.server``,
``ilvb.rooms`` or ``ilvb.sfu``: it only knows the wire protocol.
"""

from ilvb.client.client import Client
from ilvb.client.connection import Connection
from ilvb.client.events import Event, EventHub, EventStream
from ilvb.client.remote import FrameTag, RemoteMedia, audio_tone, read_frame_tag
from ilvb.client.sources import (
    ExternalAudioSource,
    ExternalVideoSource,
    FileSource,
    GainTrack,
    SyntheticVideoSource,
    ToneSource,
    tagged_frame,
)

__all__ = [
    "Client",
    "Connection",
    "Event",
    "EventHub",
    "EventStream",
    "ExternalAudioSource",
    "ExternalVideoSource",
    "FileSource",
    "FrameTag",
    "GainTrack",
    "RemoteMedia",
    "SyntheticVideoSource",
    "ToneSource",
    "audio_tone",
    "read_frame_tag",
    "tagged_frame",
]
