"""The Web SDK recovers from a lost transport (``transport.closed``): a closed send transport
is asked for again and re-offered, a closed receive transport re-opened; video comes back."""

from __future__ import annotations

import uuid

import pytest

from tests.web.pagekit import inbound, join, poll

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Record the page's transport events (window.tev) before anything happens.
WATCH_JS = """() => {
  window.tev = [];
  c.on('transport.closed', (d) => tev.push(['closed', d.transport, d.reason]));
  c.on('transport.restored', (d) => tev.push(['restored', d.transport]));
  window.states = [];
  c.on('member.state', (m) => states.push([m.user_id, m.sending.video]));
}"""


async def _decoded(page, user: str, at_least: int):
    mid = await page.evaluate(
        "(u) => { const v = c.remoteVideo(u); return v ? v.mid : null; }", user
    )
    stats = (await inbound(page)).get(mid) if mid else None
    return stats if stats and stats["framesDecoded"] >= at_least else None


async def _flowing(new_page, ilvb_origin, publish_opts: str = "{}"):
    room = "recovery-" + uuid.uuid4().hex[:8]
    alice = await new_page(f"{ilvb_origin}/demo")
    bob = await new_page(f"{ilvb_origin}/demo")
    await join(alice, "alice", room, receive=False)
    await join(bob, "bob", room)
    for page in (alice, bob):
        await page.evaluate(WATCH_JS)
    await alice.evaluate(f"c.publish('camera', {publish_opts}).then(() => 0)")
    await bob.evaluate("c.requestViews(['alice']).then(() => 0)")
    await poll(lambda: _decoded(bob, "alice", 10), within=30)
    return alice, bob


async def test_closed_send_transport_is_published_again(new_page, ilvb_origin):
    alice, bob = await _flowing(new_page, ilvb_origin)
    await alice.evaluate("c.sendPc.close()")  # DTLS close_notify: the SFU closes the transport
    await bob.wait_for_function("states.some(([u, v]) => u === 'alice' && !v)", timeout=10000)
    await alice.wait_for_function(
        "tev.some(e => e[0] === 'restored' && e[1] === 'send')", timeout=15000
    )
    events = await alice.evaluate("tev")
    assert events[0] == ["closed", "send", "dtls_closed"], events
    await bob.wait_for_function("c.member('alice').then(m => m.sending.video)", timeout=10000)
    assert await alice.evaluate("c.sendPc.connectionState") != "closed"
    before = (await poll(lambda: _decoded(bob, "alice", 1), within=15))["framesDecoded"]
    await poll(lambda: _decoded(bob, "alice", before + 15), within=30)


async def test_closed_receive_transport_is_opened_again(new_page, ilvb_origin):
    _, bob = await _flowing(new_page, ilvb_origin)
    await bob.evaluate("window.oldPc = c.recvPc; 0")
    await bob.evaluate("c.recvPc.close()")
    await bob.wait_for_function(
        "tev.some(e => e[0] === 'restored' && e[1] === 'recv')", timeout=15000
    )
    events = await bob.evaluate("tev")
    assert events[0] == ["closed", "recv", "dtls_closed"], events
    assert await bob.evaluate("c.recvPc !== window.oldPc")
    # a fresh receive transport: its counters start again and climb
    await poll(lambda: _decoded(bob, "alice", 15), within=30)


# The codec the page's send transport is sending video with, from getStats.
SENT_CODEC_JS = """async () => {
  const stats = await c.sendPc.getStats();
  const codecs = {};
  let codecId = null;
  stats.forEach((r) => {
    if (r.type === 'codec') codecs[r.id] = r.mimeType;
    if (r.type === 'outbound-rtp' && r.kind === 'video' && r.framesEncoded > 0) codecId = r.codecId;
  });
  return codecId ? codecs[codecId] : null;
}"""


async def test_a_rebuilt_send_transport_keeps_the_published_codec(new_page, ilvb_origin):
    alice, bob = await _flowing(new_page, ilvb_origin, "{codec: 'H264'}")
    assert await poll(lambda: alice.evaluate(SENT_CODEC_JS), within=10) == "video/H264"
    await alice.evaluate("window.oldPc = c.sendPc; c.sendPc.close()")
    await alice.wait_for_function(
        "tev.some(e => e[0] === 'restored' && e[1] === 'send')", timeout=15000
    )
    assert await alice.evaluate("c.sendPc !== window.oldPc")
    assert await poll(lambda: alice.evaluate(SENT_CODEC_JS), within=15) == "video/H264"
    before = (await poll(lambda: _decoded(bob, "alice", 1), within=15))["framesDecoded"]
    await poll(lambda: _decoded(bob, "alice", before + 15), within=30)
