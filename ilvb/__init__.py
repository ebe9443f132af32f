"""ilvb: self-hostable interactive live video broadcasting.

Packages: ``server`` (ASGI app: REST + WebSocket signaling), ``rooms`` (rooms, members,
permissions, caps), ``auth`` (login tickets, admin key), ``store`` (SQLAlchemy storage),
``sfu`` (the media plane: workers, routers, transports, producers, consumers),
``client`` (Python client SDK), ``web`` (Web SDK and demo page), ``billing`` (metering, price
plans, the ledger). Each package's docstring says what it may and must not import
(``tests/test_import_rules.py`` enforces it).
"""

__version__ = "0.1.0"
