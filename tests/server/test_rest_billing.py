"""Billing REST over a scripted quarter: a real SMTP server (aiosmtpd) receives the notices."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Iterator
from email import message_from_bytes
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session
from fastapi.testclient import TestClient

from ilvb.rooms.clock import ManualClock
from tests.billing import scenario
from tests.billing.scenario import at


class Inbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], str, str]] = []

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        msg = message_from_bytes(raw)
        self.messages.append(
            (list(envelope.rcpt_tos), str(msg["Subject"]), msg.get_payload(decode=True).decode())
        )  # type: ignore[union-attr]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


class Operator:
    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.key = client, key

    def call(self, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        r = self.client.request(method, path, json=body, headers={"X-Admin-Key": self.key})
        assert r.status_code == status, r.text
        return r.json()


@pytest.fixture
def billed(make_app_env: Callable[..., Any], smtp: tuple[Inbox, int]) -> Iterator[Any]:
    inbox, port = smtp
    clock = ManualClock(scenario.CREATED)
    env = make_app_env(
        clock=clock,
        billing={
            "jobs_interval_s": 0,
            "smtp": {"host": "127.0.0.1", "port": port, "security": "none"},
        },
    )
    with TestClient(env.app) as client:
        yield env, Operator(client, env.admin_key), clock, inbox


def test_a_quarter_over_rest_with_e_mailed_notices(billed: Any) -> None:
    env, op, clock, inbox = billed
    account = op.call("POST", "/v1/accounts", {"email": "ops@acme.test", "name": "Acme"}, 201)
    aid = account["account_id"]
    second = asyncio.run(env.store.create_app("b"))  # usage of two apps adds up
    ids = {"app-a": env.record.app_id, "app-b": second.app_id}
    for app_id in ids.values():
        op.call("POST", f"/v1/accounts/{aid}/apps", {"app_id": app_id})
    for s in scenario.USAGE:
        asyncio.run(env.store.record_usage(ids[s.app_id], s.multi, s.call, timestamp=s.t))
    op.call("POST", f"/v1/accounts/{aid}/topups", {"amount": "5000.00", "key": "initial"}, 201)
    op.call("POST", f"/v1/accounts/{aid}/topups", {"amount": "5000.00", "key": "initial"}, 200)
    expected = {"topup:initial": "5000.00"}
    for day, new_entries, state in scenario.STEPS:
        if day == "2026-12-05":
            clock.now = at(scenario.TOP_UP_DAY)
            body = {"amount": "6000.00", "key": "nov-22"}
            restored = op.call("POST", f"/v1/accounts/{aid}/topups", body, 201)
            assert restored["suspended"] is False
        clock.now = at(day)
        op.call("POST", "/v1/billing/run")
        op.call("POST", "/v1/billing/run")
        expected.update(new_entries)
        ledger = op.call("GET", f"/v1/accounts/{aid}/ledger")
        assert {e["key"]: e["amount"] for e in ledger["entries"]} == expected, day
        shown = op.call("GET", f"/v1/accounts/{aid}")
        got = {**shown["balance"], "suspended": str(shown["suspended"])}
        assert {k: got[k] for k in state} == state, day
    invoices = op.call("GET", f"/v1/accounts/{aid}/invoices")["invoices"]
    assert [(i["month"], i["peak"], i["fee"]) for i in invoices] == [
        ("2026-09", "50.0", "1950.00"),
        ("2026-10", "100.0", "3900.00"),
        ("2026-11", "1.5", "63.00"),
    ]
    messages = op.call("GET", f"/v1/accounts/{aid}/messages")["messages"]
    assert [m["kind"] for m in messages] == ["arrears", "suspended", "restored"]
    assert all(m["emailed"] for m in messages)
    assert [rcpt for rcpt, _, _ in inbox.messages] == [["ops@acme.test"]] * 3
    assert "arrears" in inbox.messages[0][1] and "-5530.00" in inbox.messages[0][2]


def test_bad_billing_input_gets_clear_codes(billed: Any) -> None:
    env, op, _, _ = billed
    aid = op.call("POST", "/v1/accounts", {"email": "a@b.test", "name": "A"}, 201)["account_id"]

    def code(method: str, path: str, body: Any, status: int) -> str:
        return str(op.call(method, path, body, status)["error"]["code"])

    assert code("POST", "/v1/accounts", {"email": "a@b.test", "name": "B"}, 409) == "email_taken"
    assert code("POST", "/v1/accounts", {"email": "nope", "name": "B"}, 400) == "invalid_argument"
    for amount in ("0", "-1", "1.001", "NaN", "Infinity", "1e3x"):
        body = {"amount": amount, "key": f"k{len(amount)}"}
        assert code("POST", f"/v1/accounts/{aid}/topups", body, 400) == "invalid_amount"
    body = {"amount": 10.5, "key": "float"}
    assert code("POST", f"/v1/accounts/{aid}/topups", body, 400) == "invalid_argument"
    assert code("GET", "/v1/accounts/ac_missing", None, 404) == "account_not_found"
    assert code("POST", f"/v1/accounts/{aid}/apps", {"app_id": "nope"}, 404) == "app_not_found"
    bad_plan = {"name": "x", "tiers": [{"up_to": "10", "unit_price": "1"}]}
    assert code("PUT", f"/v1/accounts/{aid}/plan", bad_plan, 400) == "invalid_price_plan"
    other = op.call("POST", "/v1/accounts", {"email": "c@d.test", "name": "C"}, 201)
    op.call("POST", f"/v1/accounts/{aid}/apps", {"app_id": env.record.app_id})
    link = {"app_id": env.record.app_id}
    assert code("POST", f"/v1/accounts/{other['account_id']}/apps", link, 409) == "app_owned"
    balance = op.call("GET", f"/v1/accounts/{aid}/ledger")["balance"]
    assert balance == {"balance": "0.00", "frozen": "0.00", "available": "0.00"}


def test_a_negotiated_plan_over_rest(billed: Any) -> None:
    _, op, _, _ = billed
    aid = op.call("POST", "/v1/accounts", {"email": "big@co.test", "name": "Big"}, 201)[
        "account_id"
    ]
    plan = {
        "name": "big-2026",
        "tiers": [
            {"up_to": "20000", "unit_price": "21.50"},
            {"up_to": None, "unit_price": "19.99"},
        ],
    }
    shown = op.call("PUT", f"/v1/accounts/{aid}/plan", plan)
    assert shown["plan"] == plan
    assert op.call("DELETE", f"/v1/accounts/{aid}/plan")["plan"]["name"] == "standard"
    assert op.call("GET", "/v1/billing/plans/default")["tiers"][1] == {
        "up_to": "100",
        "unit_price": "39",
    }


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/v1/accounts"),
        ("POST", "/v1/accounts"),
        ("GET", "/v1/accounts/x/ledger"),
        ("POST", "/v1/accounts/x/topups"),
        ("POST", "/v1/billing/run"),
    ],
)
def test_billing_needs_the_admin_key(billed: Any, method: str, path: str) -> None:
    _, op, _, _ = billed
    r = op.client.request(method, path, json={"amount": "1.00", "key": "k"})
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "admin_key_required"


def test_live_rooms_are_metered_and_billed(billed: Any) -> None:
    """Three members in a room and a two-person call in September → peak 3 + 2/2 = 4 → 168.00."""
    from contextlib import ExitStack

    from tests.server.peer import Peer

    env, op, clock, _ = billed
    aid = op.call("POST", "/v1/accounts", {"email": "m@school.test", "name": "School"}, 201)
    aid = aid["account_id"]
    op.call("POST", f"/v1/accounts/{aid}/apps", {"app_id": env.record.app_id})
    clock.now = at("2026-09-10") + 40
    with ExitStack() as stack:

        def peer(user: str) -> Peer:
            p = Peer(stack.enter_context(op.client.websocket_connect("/ws")), user)
            p.hello(env.ticket(user))
            return p

        for user in ("t", "s1", "s2"):
            peer(user).request("room.enter", {"room": "class"})
        created = peer("caller").request("room.enter", {"room": 0, "kind": "call"})
        token = created["call_token"]
        peer("callee").request(
            "room.enter", {"room": created["room"], "kind": "call", "token": token}
        )
        clock.advance(60)  # the minute ends: its peak is written
        clock.now = at("2026-10-05")
        op.call("POST", "/v1/billing/run")
    (invoice,) = op.call("GET", f"/v1/accounts/{aid}/invoices")["invoices"]
    assert (invoice["month"], invoice["peak"], invoice["fee"]) == ("2026-09", "4.0", "168.00")
    assert invoice["apps"] == [{"app_id": env.record.app_id, "at_peak": "4.0", "own_peak": "4.0"}]


def test_suspension_refuses_tickets_closes_rooms_and_a_top_up_restores(billed: Any) -> None:
    from contextlib import ExitStack

    from tests.server.peer import Peer

    env, op, clock, _ = billed
    aid = op.call("POST", "/v1/accounts", {"email": "late@pay.test", "name": "Late"}, 201)
    aid = aid["account_id"]
    op.call("POST", f"/v1/accounts/{aid}/apps", {"app_id": env.record.app_id})
    asyncio.run(env.store.record_usage(env.record.app_id, 20, 0, timestamp=at("2026-09-10")))
    with ExitStack() as stack:

        def peer(user: str) -> Peer:
            p = Peer(stack.enter_context(op.client.websocket_connect("/ws")), user)
            p.hello(env.ticket(user))
            return p

        inside = peer("teacher")
        inside.request("room.enter", {"room": "class"})
        idle = peer("idle")  # connected, in no room
        for day in ("2026-10-05", "2026-10-19"):
            clock.now = at(day)
            op.call("POST", "/v1/billing/run")
        assert op.call("GET", f"/v1/accounts/{aid}")["suspended"] is False  # arrears, not yet
        clock.now = at("2026-10-20")
        op.call("POST", "/v1/billing/run")
        assert op.call("GET", f"/v1/accounts/{aid}")["suspended"] is True
        exited = inside.next_event("room.exited")
        assert exited["reason"] == "account_suspended"
        assert idle.error("room.enter", {"room": "class"}).code == "account_suspended"
        late = Peer(stack.enter_context(op.client.websocket_connect("/ws")), "late")
        assert late.error("hello", {"protocol": 1, "ticket": env.ticket("late")}).code == (
            "account_suspended"
        )
        # 20 × 39 = 780.00 fee, 936.00 frozen: 1716.00 clears the arrears.
        op.call("POST", f"/v1/accounts/{aid}/topups", {"amount": "1716.00", "key": "pay"}, 201)
        assert op.call("GET", f"/v1/accounts/{aid}")["suspended"] is False
        idle.request("room.enter", {"room": "class"})
        peer("back").request("room.enter", {"room": "class"})
