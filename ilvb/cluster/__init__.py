"""Cluster mode: nodes register in Redis with a heartbeat; smart access picks a node for a room.

With ``cluster.redis_url`` unset a node runs alone, exactly as without this package.

Imports ``ilvb.errors``, ``ilvb.config`` and ``ilvb.rooms`` (it follows which rooms live here
through the room observers); must not import ``ilvb.server`` or ``ilvb.sfu``.
"""
