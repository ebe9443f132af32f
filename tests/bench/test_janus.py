"""The Janus harness: a minimal config with only the videoroom plugin and the HTTP transport."""

from __future__ import annotations

from pathlib import Path

from bench import janus


def test_config_enables_only_videoroom_and_http_and_pins_ice_to_the_interface(
    tmp_path: Path,
) -> None:
    cfg = janus.write_config(tmp_path / "j", ice_interface="va", debug_level=3, event_loops=1)
    text = cfg.read_text()
    assert 'ice_enforce_list = "va"' in text
    assert "event_loops = 1" in text and "session_timeout = 0" in text
    assert "stun_server" not in text and "turn_server" not in text
    assert "broadcast = false" in text  # no event handlers
    disabled = {
        line.split('"')[1] for line in text.splitlines() if line.strip().startswith("disable =")
    }
    joined = ",".join(disabled)
    assert "libjanus_videoroom.so" not in joined and "libjanus_http.so" not in joined
    if (janus.LIB / "plugins" / "libjanus_echotest.so").exists():
        assert "libjanus_echotest.so" in joined and "libjanus_websockets.so" in joined
    http = (cfg.parent / "janus.transport.http.jcfg").read_text()
    assert f"port = {janus.HTTP_PORT}" in http and "admin_http = false" in http
    assert (cfg.parent / "janus.plugin.videoroom.jcfg").exists()
    cmd = janus.janus_command(cfg, tmp_path / "janus.log")
    assert cmd[1:3] == ["-C", str(cfg)] and "-N" in cmd
