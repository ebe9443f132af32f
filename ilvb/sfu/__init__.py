"""The media plane: an SFU that forwards encrypted RTP without decoding or re-encoding.

Vocabulary (mediasoup): Worker (a process, its loop and UDP socket), Router (one room's media on a
worker), Transport (one ICE-lite + DTLS-SRTP path to a client), Producer (one incoming track),
Consumer (one producer sent out on one transport, through a receive slot).

Imports only ``ilvb.errors`` and ``ilvb.config``. Must not import ``ilvb.rooms`` or
``ilvb.server`` (the control plane talks to it only through ``ilvb.sfu.api``), nor the store,
auth or the SDK.
"""
