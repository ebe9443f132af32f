"""Channel: typed errors cross it; a gone peer fails requests with an ``Unavailable``."""

from __future__ import annotations

import asyncio
import socket

import pytest

from ilvb.errors import LimitExceeded, Unavailable
from ilvb.sfu.channel import Channel, ChannelClosed


async def _pair(on_request=None) -> tuple[Channel, Channel]:
    a, b = socket.socketpair()
    ra, wa = await asyncio.open_unix_connection(sock=a)
    rb, wb = await asyncio.open_unix_connection(sock=b)
    client, server = Channel(ra, wa), Channel(rb, wb, on_request=on_request)
    client.start()
    server.start()
    return client, server


async def test_a_handler_error_is_rebuilt_with_its_class_and_code() -> None:
    def handler(method: str, args: tuple) -> None:
        raise LimitExceeded("view_limit", "too many views")

    client, server = await _pair(handler)
    with pytest.raises(LimitExceeded) as info:
        await client.request("anything")
    assert (info.value.code, info.value.message) == ("view_limit", "too many views")
    await client.close()
    await server.close()


async def test_a_gone_peer_fails_pending_and_later_requests_as_unavailable() -> None:
    hung = asyncio.Event()

    async def handler(method: str, args: tuple) -> None:
        hung.set()
        await asyncio.Event().wait()

    client, server = await _pair(handler)
    pending = asyncio.ensure_future(client.request("hang"))
    await asyncio.wait_for(hung.wait(), 5)
    await server.close()
    with pytest.raises(Unavailable) as info:
        await asyncio.wait_for(pending, 5)
    assert isinstance(info.value, ChannelClosed)
    assert (info.value.code, info.value.http_status) == ("media_unavailable", 503)
    with pytest.raises(Unavailable) as later:
        await client.request("again")
    assert later.value.code == "media_unavailable"
    await client.close()
