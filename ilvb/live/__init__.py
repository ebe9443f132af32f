"""Room composites and bypass live: a recorder process per job that subscribes to a room's
media like any receiver, mixes the audio, lays out the video, encodes H.264 + AAC with ffmpeg,
and writes a Matroska file, an HLS stream and RTMP pushes (docs/recording.md).

It may import ``ilvb.rooms`` (observers, the room's router link), ``ilvb.sfu`` (only its
``api`` contract), ``ilvb.config`` and ``ilvb.errors``; it must not import ``ilvb.server`` or
``ilvb.client``. The recorder process (:mod:`ilvb.live.recorder`) imports only aiortc, av,
numpy and the pure modules of this package (``layout``, ``mixer``, ``sinks``).
"""

from ilvb.live.composite import CompositeJob, CompositeRunner, JobOutputs

__all__ = ["CompositeJob", "CompositeRunner", "JobOutputs"]
