"""ilvb.rooms: the control plane's rooms — Room (membership, media rules and their indexes),
Member, permissions, limits, calls, event fan-out, and RoomManager (the registry and its
orchestration, reactions to media-plane events).

Imports ``ilvb.errors``, ``ilvb.config``, ``ilvb.auth`` (ticket claims), ``ilvb.store`` (app
records) and ``ilvb.sfu`` through its contract ``ilvb.sfu.api``. Must not import ``ilvb.server``:
the rooms know members by an outbox, not by a WebSocket.
"""
