"""SDPs and ICE passwords never reach the log: with every ilvb (and uvicorn) logger at DEBUG,
a full publish/subscribe negotiation leaves no ice-pwd of either side, and no SDP body, in the
captured records. (Anyone holding a transport's ice-pwd can move its media path.)"""

from __future__ import annotations

import logging
import re

import pytest

from ilvb.client import ToneSource
from tests.integration.harness import LiveServer
from tests.integration.media_checks import record_audio, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]


async def test_no_ice_password_or_sdp_is_logged_during_a_negotiation(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="ilvb")
    caplog.set_level(logging.DEBUG, logger="uvicorn")
    async with LiveServer() as server:
        pub = await server.client("pub")
        sub = await server.client("sub")
        await pub.enter("quiet")
        await sub.enter("quiet")
        audio = record_audio(sub)
        await pub.publish_audio(ToneSource(500.0))
        await wait_until(lambda: len(audio.of("pub")) >= 10, 20, "decoded audio")
        sdps = []
        for pc in (pub.media.send_pc, sub.media.recv_pc):
            assert pc is not None
            sdps += [pc.localDescription.sdp, pc.remoteDescription.sdp]
    passwords = {p for sdp in sdps for p in re.findall(r"a=ice-pwd:(\S+)", sdp)}
    assert len(passwords) == 4  # client and SFU side of both transports
    ours = [r for r in caplog.records if r.name.startswith(("ilvb", "uvicorn"))]
    assert ours, "nothing was captured: the check would be empty"
    text = "\n".join(f"{r.getMessage()} {r.args!r} {r.exc_text or ''}" for r in ours)
    for pwd in passwords:
        assert pwd not in text
    assert "a=ice-pwd" not in text and "a=fingerprint" not in text and "v=0\r\n" not in text
