"""ilvb.web: the Web SDK (``static/ilvb.js`` and its modules, ``ilvb.d.ts``) and the demo pages,
served by ``ilvb.server`` as static files.

Holds no Python logic: it imports no other ilvb module, and must not import any.
"""
