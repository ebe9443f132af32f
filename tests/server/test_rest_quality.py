"""Quality REST: store per platform × role, versions, effective resolution, codes, credentials."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def q(make_app_env: Callable[..., Any]) -> Iterator[Callable[..., Any]]:
    env = make_app_env()
    with TestClient(env.app) as client:

        def call(method: str, path: str, body: Any = None, status: int = 200) -> Any:
            headers = {"Authorization": f"Bearer {env.server_token()}"}
            r = client.request(
                method, f"/v1/apps/{env.app_id}/quality{path}", json=body, headers=headers
            )
            assert r.status_code == status, r.text
            return r.json()

        yield call


def test_profiles_per_platform_and_role_with_versions_and_resolution(q: Any) -> None:
    listing = q("GET", "")
    assert {t["name"] for t in listing["templates"]} == {
        "realtime_call",
        "interactive_live",
        "online_class",
        "screen_share",
    }
    assert listing["profiles"] == []
    assert q("GET", "/web/student/effective")["source"] == "template:realtime_call"
    q("PUT", "/web/*", {"template": "online_class"})
    first = q(
        "PUT", "/web/teacher", {"template": "online_class", "video": {"width": 1280, "height": 720}}
    )
    assert first["version"] == 1 and first["differs"] == {"video.width": 1280, "video.height": 720}
    again = q("PUT", "/web/teacher", {"template": "screen_share"})
    assert again["version"] == 2 and again["differs"] == {}
    teacher = q("GET", "/web/teacher/effective")
    assert teacher["source"] == "web/teacher" and teacher["profile"]["video"]["width"] == 320
    student = q("GET", "/web/student/effective")
    assert student["source"] == "web/*" and student["profile"]["video"]["height"] == 360
    assert q("GET", "/python/teacher/effective")["source"] == "template:realtime_call"
    assert [(p["platform"], p["role"]) for p in q("GET", "")["profiles"]] == [
        ("web", "*"),
        ("web", "teacher"),
    ]


def test_bad_profiles_get_codes_and_change_nothing(q: Any) -> None:
    q("PUT", "/web/host", {"template": "interactive_live"})
    bad = q("PUT", "/web/host", {"video": {"fps": 500}}, status=400)["error"]
    assert bad["code"] == "invalid_quality_profile" and bad["details"]["field"] == "video.fps"
    unknown = q("PUT", "/web/host", {"template": "nope"}, status=400)["error"]
    assert (
        unknown["code"] == "invalid_quality_profile" and unknown["details"]["field"] == "template"
    )
    qp = q("PUT", "/web/host", {"video": {"min_qp": 50, "max_qp": 10}}, status=400)["error"]
    assert qp["code"] == "invalid_quality_profile"  # a rule across fields, checked after the schema
    assert q("PUT", "/tv/host", {}, status=400)["error"]["code"] == "invalid_argument"
    assert q("PUT", "/web/bad role!", {}, status=400)["error"]["code"] == "invalid_argument"
    (stored,) = q("GET", "")["profiles"]
    assert stored["version"] == 1 and stored["template"] == "interactive_live"


def test_quality_needs_the_apps_credential(make_app_env: Callable[..., Any]) -> None:
    env = make_app_env()
    with TestClient(env.app) as client:
        assert client.get(f"/v1/apps/{env.app_id}/quality").status_code == 401


async def test_the_sql_store_keeps_profiles_and_versions(tmp_path: Path) -> None:
    from ilvb.quality.profile import build_profile
    from ilvb.store.quality_sql import SqlQualityStore
    from ilvb.store.sql import SqlAppStore

    url = f"sqlite+aiosqlite:///{tmp_path / 'ilvb.db'}"
    apps = SqlAppStore(url)
    await apps.open()
    app = await apps.create_app("a")
    store = SqlQualityStore(apps)
    _, profile = build_profile("web", {"template": "online_class", "video": {"fps": 25}})
    await store.put_profile(app.app_id, "web", "student", "online_class", profile, 1.0)
    await store.put_profile(app.app_id, "web", "student", "online_class", profile, 2.0)
    await apps.close()
    reopened = SqlAppStore(url)
    await reopened.open()
    (row,) = await SqlQualityStore(reopened).profiles(app.app_id)
    assert (row.version, row.updated_at, row.profile.video.fps) == (2, 2.0, 25)
    await reopened.close()


def test_the_profile_comes_with_room_enter_and_changes_are_pushed(
    make_app_env: Callable[..., Any],
) -> None:
    from contextlib import ExitStack

    from tests.server.peer import Peer

    env = make_app_env()
    with TestClient(env.app) as client, ExitStack() as stack:
        token = {"Authorization": f"Bearer {env.server_token()}"}
        base = f"/v1/apps/{env.app_id}/quality"

        def peer(user: str, platform: str, role: str) -> Peer:
            p = Peer(stack.enter_context(client.websocket_connect("/ws")), user)
            p.hello(env.ticket(user, role=role), platform=platform)
            return p

        put = {"template": "online_class"}
        assert client.put(f"{base}/web/student", json=put, headers=token).status_code == 200
        student = peer("s1", "web", "student")
        entered = student.request("room.enter", {"room": "class"})
        assert entered["quality"]["source"] == "web/student"
        assert entered["quality"]["profile"]["video"]["height"] == 360
        py_student = peer("s2", "python", "student")
        assert py_student.request("room.enter", {"room": "class"})["quality"]["source"] == (
            "template:realtime_call"
        )
        teacher = peer("t", "web", "teacher")
        teacher.request("room.enter", {"room": "class"})
        change = {
            "template": "online_class",
            "video": {"width": 320, "height": 240, "bitrate_kbps": 300},
        }
        assert client.put(f"{base}/web/student", json=change, headers=token).status_code == 200
        pushed = student.next_event("quality.changed")
        assert pushed["version"] == 2 and pushed["profile"]["video"]["width"] == 320
        # Only the members the change applies to hear of it.
        py_student.request("room.members", {})
        teacher.request("room.members", {})
        assert not [
            e for e in py_student.events + teacher.events if e["event"] == "quality.changed"
        ]


def test_the_server_keeps_each_members_quality_report(
    make_app_env: Callable[..., Any],
) -> None:
    from tests.server.peer import Peer

    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        token = {"Authorization": f"Bearer {env.server_token()}"}
        url = f"/v1/apps/{env.app_id}/rooms/r/members/m1/quality"
        member = Peer(ws, "m1")
        member.hello(env.ticket("m1"), platform="web")
        assert member.error("quality.report", {"version": 1, "applied": {}}).code == "not_in_room"
        member.request("room.enter", {"room": "r"})
        assert client.get(url, headers=token).json() == {"report": None}
        report = {
            "version": 3,
            "applied": {"video.width": 320, "video.bitrate_kbps": 300, "audio.agc": True},
            "unsupported": ["video.min_qp", "video.gop"],
        }
        assert member.request("quality.report", report) == {}
        kept = client.get(url, headers=token).json()["report"]
        assert {k: kept[k] for k in report} == report and kept["at"] > 0
        for bad in (
            {"version": "3", "applied": {}},
            {"version": 3, "applied": {"video.width": [320]}},
            {"version": 3, "applied": {}, "unsupported": ["x" * 65]},
            {"version": 3, "applied": {f"k{i}": 1 for i in range(65)}},
        ):
            assert member.error("quality.report", bad).code == "invalid_argument"
        # A refused report leaves the last good one in place.
        assert client.get(url, headers=token).json()["report"]["version"] == 3
        assert client.get(url).status_code == 401
        missing = client.get(url.replace("/m1/", "/nobody/"), headers=token)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "member_not_found"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"video": {"fps": "20"}}, "video.fps"),  # a string for a number
        ({"audio": {"agc": 1}}, "audio.agc"),  # a number for a flag
        ({"video": {"width": 12.5}}, "video.width"),
        ({"video": []}, "video"),
        ({"video": {"codec": "AV1"}}, "video.codec"),  # a codec no SDK sends
        ({"audio": {"codec": "aac"}}, "audio.codec"),
        ({"video": {"fsp": 20}}, "video.fsp"),  # a field that does not exist
        ({"network": {"max_send_kbps": 10}}, "network.max_send_kbps"),  # below the range
        ({"screen": {"clear": {"fps": 0}}}, "screen.clear.fps"),
        ({"audio": {"sample_rate": 44100}}, "audio.sample_rate"),
        ({"template": 3}, "template"),
        ({"template": "webinar"}, "template"),  # an unknown template
    ],
)
def test_wrong_types_codecs_and_fields_name_the_field_and_write_nothing(
    q: Any, body: dict[str, Any], field: str
) -> None:
    q("PUT", "/web/host", {"template": "online_class"})
    error = q("PUT", "/web/host", {"template": "online_class", **body}, status=400)["error"]
    assert error["code"] == "invalid_quality_profile"
    assert error["details"]["field"] == field and error["message"].startswith(field)
    (stored,) = q("GET", "")["profiles"]
    assert (stored["version"], stored["differs"]) == (1, {})


def test_host_and_audience_tickets_get_their_own_profiles_at_entry(
    make_app_env: Callable[..., Any],
) -> None:
    from contextlib import ExitStack

    from tests.server.peer import Peer

    env = make_app_env()
    with TestClient(env.app) as client, ExitStack() as stack:
        token = {"Authorization": f"Bearer {env.server_token()}"}
        base = f"/v1/apps/{env.app_id}/quality"
        host_body = {"template": "interactive_live", "video": {"bitrate_kbps": 2000}}
        audience_body = {
            "template": "interactive_live",
            "video": {"width": 320, "height": 180, "bitrate_kbps": 150},
            "network": {"max_send_kbps": 200},
        }
        for role, body in (("host", host_body), ("audience", audience_body)):
            assert client.put(f"{base}/web/{role}", json=body, headers=token).status_code == 200

        def enter(user: str, role: str, platform: str = "web") -> dict[str, Any]:
            p = Peer(stack.enter_context(client.websocket_connect("/ws")), user)
            p.hello(env.ticket(user, role=role), platform=platform)
            return p.request("room.enter", {"room": "show"})["quality"]  # type: ignore[no-any-return]

        host = enter("h", "host")
        assert (host["source"], host["version"]) == ("web/host", 1)
        assert host["profile"]["video"]["bitrate_kbps"] == 2000
        assert host["profile"]["video"]["width"] == 1280  # the template's, not overridden
        viewer = enter("v", "audience")
        assert viewer["source"] == "web/audience"
        assert (viewer["profile"]["video"]["width"], viewer["profile"]["video"]["height"]) == (
            320,
            180,
        )
        assert viewer["profile"]["network"]["max_send_kbps"] == 200
        # Other roles and platforms fall back to the default template.
        assert enter("x", "cohost")["source"] == "template:realtime_call"
        assert enter("y", "host", "python")["source"] == "template:realtime_call"


def test_the_sfus_bitrate_hints_follow_the_members_profile_cap(
    make_app_env: Callable[..., Any],
) -> None:
    import time

    from tests.server.peer import Peer

    env = make_app_env()
    with TestClient(env.app) as client, client.websocket_connect("/ws") as ws:
        token = {"Authorization": f"Bearer {env.server_token()}"}
        base = f"/v1/apps/{env.app_id}/quality"
        body = {"template": "realtime_call", "network": {"max_send_kbps": 900}}
        assert client.put(f"{base}/web/host", json=body, headers=token).status_code == 200
        host = Peer(ws, "h")
        host.hello(env.ticket("h", role="host"), platform="web")
        host.request("room.enter", {"room": "r"})

        def cap() -> Any:
            deadline = time.monotonic() + 5
            while True:
                routers = list(env.media.routers.values())
                if routers and "h" in routers[0].send_caps:
                    return routers[0].send_caps["h"]
                assert time.monotonic() < deadline, "the router was not told the cap"
                time.sleep(0.01)

        assert cap() == 900_000
        body["network"]["max_send_kbps"] = 300
        assert client.put(f"{base}/web/host", json=body, headers=token).status_code == 200
        host.next_event("quality.changed")
        deadline = time.monotonic() + 5
        while cap() != 300_000:
            assert time.monotonic() < deadline, cap()
            time.sleep(0.01)
