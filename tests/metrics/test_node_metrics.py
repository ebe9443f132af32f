"""``/metrics`` against a live server with a real SFU worker process and real media.

The exposition is parsed with prometheus_client's own parser; rooms and members follow what the
scripted rooms hold (enter, exit), joins are counted in the latency histogram, the forwarded
packets lie between the router's counters read just before and just after the scrape and keep
growing while a tone is published, and the worker reports its process's CPU time.
"""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ilvb.client import ToneSource
from ilvb.errors import IlvbError
from tests.integration.harness import LiveServer
from tests.integration.media_checks import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

TOKEN = "metrics-token-for-the-test-0123456789"


def parse(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample: (name, sorted labels) -> value."""
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, f"{key} not in {sorted(k for k in samples if k[0] == name)}"
    return samples[key]


async def scrape(
    http: httpx.AsyncClient, base: str
) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = await http.get(f"{base}/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/plain")
    return parse(r.text)


async def test_metrics_follow_rooms_members_and_real_media() -> None:
    async with (
        LiveServer(media={"workers": 1}, metrics={"token": TOKEN}) as server,
        httpx.AsyncClient() as http,
    ):
        base = server.url.replace("ws://", "http://").removesuffix("/ws")
        denied = await http.get(f"{base}/metrics")
        assert denied.status_code == 401
        assert denied.json()["error"]["code"] == "metrics_credential_required"
        wrong = await http.get(f"{base}/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401

        before = await scrape(http, base)
        assert value(before, "ilvb_rooms", kind="room") == 0
        assert value(before, "ilvb_members", kind="room") == 0
        assert value(before, "ilvb_join_seconds_count") == 0

        pub = await server.client("pub")
        await pub.enter("m1")
        subs = [await server.client(f"sub{i}") for i in range(2)]
        for sub in subs:
            await sub.enter("m1")
        lone = await server.client("lone")
        await lone.enter("m2")

        s = await scrape(http, base)
        assert (
            value(s, "ilvb_rooms", kind="room")
            == 2
            == len(server.app.state.rooms.rooms(server.app_id))
        )
        assert value(s, "ilvb_members", kind="room") == 4
        assert value(s, "ilvb_rooms_created_total") == 2
        assert value(s, "ilvb_member_entries_total") == 4
        assert value(s, "ilvb_join_seconds_count") == 4
        assert 0 < value(s, "ilvb_join_seconds_sum") < 4 * 10
        assert value(s, "ilvb_join_seconds_bucket", le="+Inf") == 4
        assert value(s, "ilvb_worker_routers", worker="0") == 2
        assert value(s, "ilvb_worker_cpu_seconds_total", worker="0") > 0
        assert value(s, "process_cpu_seconds_total") > 0

        await pub.publish_audio(ToneSource(440.0, amplitude=0.5))

        async def forwarded() -> float:
            return value(await scrape(http, base), "ilvb_media_packets_forwarded_total", worker="0")

        deadline = time.monotonic() + 20
        while await forwarded() < 50:
            assert time.monotonic() < deadline, "no forwarded packets reached /metrics"
            await asyncio.sleep(0.2)
        router_before = (await server.router_stats("m1"))["packets_out"]
        s = await scrape(http, base)
        router_after = (await server.router_stats("m1"))["packets_out"]
        out = value(s, "ilvb_media_packets_forwarded_total", worker="0")
        assert router_before <= out <= router_after, (router_before, out, router_after)
        assert value(s, "ilvb_media_packets_in_total", worker="0") > 0
        assert value(s, "ilvb_media_bytes_in_total", worker="0") > 0
        assert value(s, "ilvb_media_payload_bytes_forwarded_total", worker="0") > 0
        assert value(s, "ilvb_worker_transports", worker="0") >= 3
        for name in (
            "ilvb_media_packets_lost_total",
            "ilvb_media_nacks_sent_total",
            "ilvb_media_nacks_received_total",
            "ilvb_media_retransmits_total",
        ):
            assert value(s, name, worker="0") >= 0
        first = out
        deadline = time.monotonic() + 20
        while await forwarded() < first + 20:
            assert time.monotonic() < deadline, "forwarded packets stopped growing"
            await asyncio.sleep(0.2)

        # a subscriber leaves: one member fewer; the lone member leaves: its room closes; the
        # forwarded counter does not go back when members and routers go away
        await subs[0].exit()
        await lone.exit()
        await wait_until(
            lambda: len(server.app.state.rooms.rooms(server.app_id)) == 1, 10, "m2 closed"
        )
        s = await scrape(http, base)
        assert value(s, "ilvb_members", kind="room") == 2
        assert value(s, "ilvb_rooms", kind="room") == 1
        assert value(s, "ilvb_member_exits_total", reason="left") == 2
        assert value(s, "ilvb_media_packets_forwarded_total", worker="0") >= first

        # a refused join is counted apart, not in the latency histogram
        again = await server.client("pub2")
        await again.enter("m1")
        with pytest.raises(IlvbError, match="already"):
            await again.enter("m3")  # already_in_room
        s = await scrape(http, base)
        assert value(s, "ilvb_join_failures_total", code="already_in_room") == 1
        assert value(s, "ilvb_join_seconds_count") == 5
