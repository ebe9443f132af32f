"""ilvb: self-hostable interactive live video broadcasting.

Packages: ``server`` (ASGI app: REST + WebSocket signaling), ``rooms`` (rooms, members,
permissions, caps), ``auth`` (login tickets, admin key), ``store`` (SQLAlchemy storage),
``sfu`` (the media plane: workers, routers, transports, producers, consumers),
``client`` (Python client SDK), ``web`` (Web SDK and demo page).
"""

__version__ = "0.1.0"
