"""The Python SDK's path watch without a network: a connection that receives nothing for 1.5 s
is reported once (``media.reconnecting``) and back once packets count up again
(``media.reconnected`` with the outage); the SDP credential helpers."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from ilvb.client.events import Event
from ilvb.client.reconnect import (
    LOST_AFTER_S,
    PathWatch,
    ice_credentials,
    new_credentials,
    with_ice_credentials,
)

SDP = "v=0\r\na=ice-ufrag:abcd\r\na=ice-pwd:" + "p" * 22 + "\r\nm=audio 9\r\na=ice-ufrag:abcd\r\n"


class FakeDtls:
    state = "connected"

    def __init__(self) -> None:
        self._RTCDtlsTransport__rx_packets = 0
        self.transport = SimpleNamespace(
            _connection=SimpleNamespace(_nominated={}, remote_password=None)
        )


def fake_pc(dtls: FakeDtls) -> Any:
    transceiver = SimpleNamespace(receiver=SimpleNamespace(transport=dtls))
    return SimpleNamespace(getTransceivers=lambda: [transceiver], localDescription=None)


def test_sdp_credentials_are_read_and_replaced_everywhere() -> None:
    assert ice_credentials(SDP) == ("abcd", "p" * 22)
    ufrag, pwd = new_credentials()
    assert len(ufrag) >= 4 and len(pwd) >= 22
    out = with_ice_credentials(SDP, ufrag, pwd)
    assert out.count(f"a=ice-ufrag:{ufrag}\r\n") == 2 and f"a=ice-pwd:{pwd}\r\n" in out
    assert "abcd" not in out


async def test_silence_is_reported_once_and_the_return_with_the_outage() -> None:
    dtls = FakeDtls()
    media = SimpleNamespace(send_pc=None, recv_pc=fake_pc(dtls))
    events: list[Event] = []
    watch = PathWatch(media, lambda t, d: None, events.append)  # type: ignore[arg-type, return-value]
    t = 100.0
    watch.poll(t)
    watch.poll(t + 0.25)  # first count seen
    for step in range(1, 6):
        watch.poll(t + step * 0.25)
    assert events == []  # 1.25 s of silence: not yet
    watch.poll(t + LOST_AFTER_S + 0.25)
    watch.poll(t + LOST_AFTER_S + 0.5)
    assert [e.name for e in events] == ["media.reconnecting"]  # once
    assert events[0].data == {"transport": "recv"} and watch.reconnecting
    dtls._RTCDtlsTransport__rx_packets = 5
    watch.poll(t + 3.25)
    assert [e.name for e in events] == ["media.reconnecting", "media.reconnected"]
    assert events[1].data["transport"] == "recv" and events[1].data["outage_ms"] == 3250
    assert not watch.reconnecting
    watch.poll(t + 3.5)
    assert len(events) == 2
    await watch.stop()


async def test_a_new_peer_connection_starts_the_watch_over() -> None:
    first, second = FakeDtls(), FakeDtls()
    media = SimpleNamespace(send_pc=fake_pc(first), recv_pc=None)
    events: list[Event] = []
    watch = PathWatch(media, lambda t, d: None, events.append)  # type: ignore[arg-type, return-value]
    watch.poll(0.0)
    watch.poll(1.0)
    media.send_pc = fake_pc(second)  # rebuilt after transport.closed: a fresh count
    watch.poll(1.9)
    watch.poll(2.5)
    assert events == []
    await watch.stop()
