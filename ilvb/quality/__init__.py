"""ilvb.quality: audio/video/network quality profiles per app, platform and role.

A profile says what an SDK should capture, encode and send (codec, size, frame rate, bitrates,
QP, GOP, sharpening, FEC, AGC/NS/AEC, screen-sharing modes, bandwidth caps). Ready templates
cover the common scenarios; an app stores its own per (platform, role), validated, versioned.

Imports: pydantic, ``ilvb.errors`` and the standard library; must not import ``ilvb.server``,
``ilvb.rooms`` or ``ilvb.sfu`` (the SQL side lives in ``ilvb.store``).
"""
