"""Cloud recording: the control plane of recordings and the per-track recorder.

- :mod:`ilvb.recording.service`: :class:`RecordingService` — start/stop/list/delete recordings,
  their state in the store, the ``recording.started`` / ``recording.stopped`` room events, the
  files of a recording (under ``<data_dir>/recordings/<app_id>/<recording_id>/``).
- :mod:`ilvb.recording.taps`: :class:`RoomTaps` — a room's producers, tapped as plain RTP to a
  loopback port (:meth:`ilvb.sfu.api.RouterHandle.open_tap`).
- :mod:`ilvb.recording.tracks`: the ``tracks`` mode job, which runs the recorder process
  (:mod:`ilvb.recording.recorder`: :mod:`~ilvb.recording.rtp` depacketizes,
  :mod:`~ilvb.recording.writer` muxes with PyAV, no transcoding).
- :mod:`ilvb.recording.jobs`: the protocols a recording mode implements (``composite`` plugs in
  a :class:`CompositeRunner`).

Import rules: ``ilvb.recording`` may import ``ilvb.errors``, ``ilvb.config``, ``ilvb.rooms``
and ``ilvb.sfu`` (its ``api`` only); it must not import ``ilvb.server`` or ``ilvb.store`` (the
server wires the SQL store in).
"""
