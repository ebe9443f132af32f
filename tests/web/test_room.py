"""The Web SDK and the demo page against the real server: entering, the member list, mute state
seen by another page within a second, typed errors, and the video sender limit shown in the page."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.web.pagekit import join

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


def room_name() -> str:
    return "web-" + uuid.uuid4().hex[:8]


async def demo_page(new_page, origin: str, user: str, room: str, mic: bool, cam: bool):
    q = f"user={user}&room={room}&mic={int(mic)}&cam={int(cam)}&autojoin=1"
    page = await new_page(f"{origin}/demo?{q}")
    await page.wait_for_selector("body[data-state=joined], #error:not([hidden])", timeout=20000)
    return page


async def test_sdk_enters_lists_members_and_reports_typed_errors(new_page, ilvb_origin):
    room = room_name()
    a = await new_page(f"{ilvb_origin}/demo")
    b = await new_page(f"{ilvb_origin}/demo")
    entered = await join(a, "alice", room, receive=False)
    assert entered["me"]["user_id"] == "alice" and entered["video_slots"] == 4
    await a.evaluate(
        "window.seen = [];"
        " c.on('members.entered', d => seen.push(...d.members.map(m => m.user_id))); 0"
    )
    await join(b, "bob", room, receive=False)
    await a.wait_for_function("seen.includes('bob')", timeout=5000)
    listing = await a.evaluate("c.members().then(p => [p.total, p.members.map(m => m.user_id)])")
    assert listing == [2, ["alice", "bob"]]
    bob = await a.evaluate("c.member('bob')")
    assert bob["user_id"] == "bob" and bob["sending"] == {
        "audio": False,
        "video": False,
        "screen": False,
    }
    err = await a.evaluate(
        "c.member('nobody').then(() => null, e => [e.name, e.code, e instanceof sdk.IlvbError])"
    )
    assert err == ["IlvbError", "member_not_found", True]
    err = await a.evaluate("c.enter('another').then(() => null, e => e.code)")
    assert err == "already_in_room"
    await b.evaluate("c.exit()")
    await a.wait_for_function("c.members().then(p => p.total === 1)", timeout=5000)


async def test_mute_in_one_page_shows_in_the_other_within_one_second(new_page, ilvb_origin):
    room = room_name()
    alice = await demo_page(new_page, ilvb_origin, "alice", room, mic=True, cam=False)
    bob = await demo_page(new_page, ilvb_origin, "bob", room, mic=False, cam=False)
    assert await alice.get_attribute("body", "data-state") == "joined"
    assert await bob.get_attribute("body", "data-state") == "joined"
    await bob.wait_for_selector("#members li[data-user=alice][data-audio=sending]", timeout=5000)
    for muted, state in ((True, "muted"), (False, "sending")):
        clicked_at = await alice.evaluate(
            "(() => { const t = Date.now(); document.getElementById('mute-mic-btn').click();"
            " return t; })()"
        )
        li = await bob.wait_for_selector(
            f"#members li[data-user=alice][data-audio={state}]", timeout=5000
        )
        seen_at = int(await li.get_attribute("data-changed-at"))
        print(f"mute={muted}: seen by the other page {seen_at - clicked_at} ms after the click")
        assert 0 <= seen_at - clicked_at < 1000, (muted, seen_at - clicked_at)
        await alice.wait_for_function(
            f"document.getElementById('mute-mic-btn').textContent === "
            f"'{'Unmute mic' if muted else 'Mute mic'}'"
        )


async def test_fifth_video_sender_sees_the_limit_error_in_the_page(new_page, ilvb_origin):
    room = room_name()
    for i in range(4):
        page = await new_page(f"{ilvb_origin}/demo")
        await join(page, f"cam{i}", room, receive=False)
        # A small canvas as the camera keeps four senders cheap on a loaded machine.
        await page.evaluate(
            """async () => {
              const cv = document.createElement('canvas'); cv.width = 160; cv.height = 120;
              const g = cv.getContext('2d');
              setInterval(() => { g.fillStyle = `hsl(${Date.now() % 360},80%,50%)`;
                                  g.fillRect(0, 0, 160, 120); }, 100);
              c.devices.openExternalVideo(cv, 10);
              await c.publish('camera');
            }"""
        )
    fifth = await demo_page(new_page, ilvb_origin, "fifth", room, mic=False, cam=True)
    error = await fifth.wait_for_selector("#error:not([hidden])", timeout=10000)
    assert await error.get_attribute("data-code") == "video_sender_limit"
    assert "Video limit reached" in await error.inner_text()
    # The page stays in the room and shows the four senders with their cameras on.
    for i in range(4):
        await fifth.wait_for_selector(f"#members li[data-user=cam{i}][data-video=sending]")
    assert await fifth.evaluate("demo.client.localTrack('camera')") is None


async def test_publishing_without_permission_is_shown_in_the_page(new_page, ilvb_origin):
    room = room_name()
    page = await demo_page(new_page, ilvb_origin, "dora", room, mic=False, cam=False)
    me = await page.evaluate("demo.client.setPermissions({video: false})")
    assert me["permissions"]["video"] is False
    await page.click("#cam-btn")
    error = await page.wait_for_selector("#error:not([hidden])", timeout=10000)
    assert await error.get_attribute("data-code") == "permission_denied"
    assert "No permission" in await error.inner_text()
    assert await page.evaluate("demo.client.localTrack('camera')") is None
    # Granting it back lets the same button publish.
    await page.evaluate("demo.client.setPermissions({video: true}).then(() => 0)")
    await page.click("#cam-btn")
    await page.wait_for_function("demo.client.localTrack('camera') !== null", timeout=10000)
    assert await page.is_hidden("#error")
    # Revoking it while sending stops the camera being sent.
    await page.evaluate("demo.client.setPermissions({video: false}).then(() => 0)")
    await page.wait_for_function("demo.client.localTrack('camera') === null", timeout=5000)
    assert await page.evaluate("demo.client.member('dora').then(m => m.sending.video)") is False


CONNECT_JS = """async (user) => {
  const sdk = await import('/sdk/ilvb.js');
  window.sdk = sdk;
  const res = await fetch('/demo/ticket', {method: 'POST',
    headers: {'content-type': 'application/json'}, body: JSON.stringify({user})});
  window.c = await sdk.Client.connect(location.origin, (await res.json()).ticket);
  window.events = [];
  c.on('*', (name, data) => events.push([name, data]));
  return c.userId;
}"""


async def test_two_person_call_from_the_browser(new_page, ilvb_origin):
    pages = [await new_page(f"{ilvb_origin}/demo") for _ in range(3)]
    for page, user in zip(pages, ("caller", "callee", "third"), strict=True):
        assert await page.evaluate(CONNECT_JS, user) == user
    caller, callee, third = pages
    created = await caller.evaluate("c.enterCall(0, {receive: false})")
    number, token = created["room"], created["call_token"]
    assert isinstance(number, int) and number > 0
    err = await third.evaluate(f"c.enterCall({number}).then(() => null, e => e.code)")
    assert err == "room_not_found"  # the number alone does not open the call
    await callee.evaluate(
        f"c.enterCall({number}, {{receive: false, token: {token!r}}}).then(() => 0)"
    )
    err = await third.evaluate(
        f"c.enterCall({number}, {{token: {token!r}}}).then(() => null, e => e.code)"
    )
    assert err == "call_full"
    await caller.evaluate("c.exit()")
    await callee.wait_for_function(
        "events.some(([n]) => n === 'call.ended')"
        " && events.some(([n, d]) => n === 'room.exited' && d.reason === 'call_ended')",
        timeout=5000,
    )
    assert await callee.evaluate("c.room") is None


async def test_a_dropped_socket_resumes_without_the_others_seeing_an_exit(new_page, ilvb_origin):
    room = room_name()
    a = await new_page(f"{ilvb_origin}/demo")
    b = await new_page(f"{ilvb_origin}/demo")
    await join(a, "ana", room, receive=False)
    await join(b, "ben", room, receive=False)
    await b.evaluate("window.exits = []; c.on('members.exited', d => exits.push(d)); 0")
    await a.evaluate(
        "window.states = []; c.on('*', n => n.startsWith('connection.') && states.push(n));"
        " c.on('connection.resumed', d => { window.resumed = d.resumed; });"
        " c._signaling._ws.close(); 0"
    )
    await a.wait_for_function("states.includes('connection.resumed')", timeout=15000)
    assert await a.evaluate("window.resumed") is True
    assert await a.evaluate("states") == ["connection.lost", "connection.resumed"]
    # Still in the room with the same session: requests work, nobody saw an exit.
    total = await a.evaluate("c.members().then(p => p.total)")
    assert total == 2
    assert await b.evaluate("exits") == []


async def test_a_bad_ticket_is_shown_in_the_join_form(new_page, ilvb_origin):
    page = await new_page(f"{ilvb_origin}/demo?user=eve&room=r")
    await page.fill("#ticket", "not-a-ticket")
    await page.click("#join-btn")
    error = await page.wait_for_selector("#error:not([hidden])", timeout=10000)
    assert await error.get_attribute("data-code") == "ticket_malformed"
    assert "not a login ticket" in await error.inner_text()
    assert await page.is_visible("#join") and await page.is_hidden("#room-view")


@pytest.fixture(scope="module")
def batching_origin():
    """A server that batches connection changes in every room for 1 s."""
    from tests.web.conftest import ServerProcess

    server = ServerProcess(
        {"ILVB_ROOMS__EVENT_BATCH_MIN_MEMBERS": "1", "ILVB_ROOMS__EVENT_BATCH_MS": "1000"}
    )
    yield server.origin
    server.close()


async def test_batched_connection_changes_reach_the_app_as_member_state_events(
    new_page, batching_origin
):
    room = room_name()
    pages = [await new_page(f"{batching_origin}/demo") for _ in range(3)]
    for page, user in zip(pages, ("wes", "ana", "ben"), strict=True):
        await join(page, user, room, receive=False)
    watcher = pages[0]
    await watcher.wait_for_function("c.members().then(p => p.total === 3)", timeout=10000)
    await watcher.evaluate(
        "window.wire = []; c._signaling.on('event', ({name}) => wire.push(name));"
        " window.states = []; c.on('member.state', m => states.push([m.user_id, m.connected]));"
        " c.on('members.state', () => states.push('batch seen by the app')); 0"
    )
    # Two members lose their sockets at once (both resume on their own).
    await asyncio.gather(*(p.evaluate("c._signaling._ws.close(); 0") for p in pages[1:]))
    await watcher.wait_for_function("states.length >= 4", timeout=15000)
    states = await watcher.evaluate("states")
    assert sorted(states[:2]) == [["ana", False], ["ben", False]]
    assert sorted(states[2:4]) == [["ana", True], ["ben", True]]
    assert "members.state" in await watcher.evaluate("wire")  # batched on the wire
    for page in pages[1:]:
        await page.wait_for_function("c.me && c.me.connected === true", timeout=10000)


async def test_a_host_mute_disables_the_muted_members_microphone_track(new_page, ilvb_origin):
    """``member.mute`` by a teacher: the student's page gets ``control.muted`` and its SDK turns
    the local microphone track off (and back on when the student unmutes itself)."""
    room = room_name()
    teacher = await new_page(f"{ilvb_origin}/demo")
    student = await new_page(f"{ilvb_origin}/demo")
    await teacher.evaluate(
        """async (room) => {
          const sdk = await import('/sdk/ilvb.js');
          const res = await fetch('/demo/ticket', {method: 'POST',
            headers: {'content-type': 'application/json'},
            body: JSON.stringify({user: 'teacher', room, role: 'teacher'})});
          window.c = await sdk.Client.connect(location.origin, (await res.json()).ticket);
          await window.c.enter(room, {receive: false});
        }""",
        room,
    )
    await join(student, "student", room, receive=False)
    await student.evaluate(
        "window.mutedBy = []; c.on('control.muted', d => mutedBy.push(d.source));"
        " c.publish('microphone')"
    )
    assert await student.evaluate("c.localTrack('microphone').enabled") is True
    await teacher.evaluate("c.muteMember('student')")
    await student.wait_for_function(
        "mutedBy.includes('microphone') && c.localTrack('microphone').enabled === false",
        timeout=5000,
    )
    assert await student.evaluate("c.me.muted.audio") is True
    await student.evaluate("c.mute('microphone', false)")
    assert await student.evaluate("c.localTrack('microphone').enabled") is True
