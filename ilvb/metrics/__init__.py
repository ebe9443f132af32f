"""Prometheus metrics of one node: rooms, members, joins, media traffic, worker CPU.

:class:`~ilvb.metrics.node.NodeMetrics` follows the rooms through their observers
(``manager.observer`` → ``room.observer``) and reads the media plane's counters through
:class:`~ilvb.sfu.api.MediaPlaneStats`; it never patches the rooms or the SFU.

Imports ``ilvb.errors``, ``ilvb.config``, ``ilvb.rooms`` and ``ilvb.sfu``; must not import
``ilvb.server`` (the server mounts ``/metrics`` and feeds it the signaling timings).
"""
