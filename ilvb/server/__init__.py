"""ilvb.server: the FastAPI application — REST for apps, live rooms, usage, billing, quality
profiles and bypass live, WebSocket signaling, the app factory and its lifespan (store, media
plane, rooms).

The top of the control plane: imports ``ilvb.errors``, ``ilvb.config``, ``ilvb.auth``,
``ilvb.store``, ``ilvb.rooms``, ``ilvb.sfu``, ``ilvb.billing``, ``ilvb.quality``,
``ilvb.live``, ``ilvb.recording``, ``ilvb.metrics``, ``ilvb.webhooks`` and ``ilvb.cluster``;
must not import the SDK (``ilvb.client``) or the command line.
"""
