"""The Web SDK's session.refresh against the real server: a new ticket for the same user is
taken (and kept for reconnects), another user's ticket is refused."""

from __future__ import annotations

import pytest

from tests.web.test_room import CONNECT_JS

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

REFRESH_JS = """async (user) => {
  const ticket = async (u) => {
    const res = await fetch('/demo/ticket', {method: 'POST',
      headers: {'content-type': 'application/json'}, body: JSON.stringify({user: u})});
    return (await res.json()).ticket;
  };
  const fresh = await ticket(user);
  const expires = await c.refresh(fresh);
  const kept = c._signaling._ticket === fresh;
  const refused = await c.refresh(await ticket('someone-else')).then(() => null, e => e.code);
  return {expires, kept, refused, now: Date.now() / 1000};
}"""


async def test_refresh_takes_a_new_ticket_of_the_same_user(new_page, ilvb_origin):
    page = await new_page(f"{ilvb_origin}/demo")
    assert await page.evaluate(CONNECT_JS, "refresher") == "refresher"
    result = await page.evaluate(REFRESH_JS, "refresher")
    assert result["expires"] > result["now"] + 60
    assert result["kept"] is True
    assert result["refused"] == "invalid_argument"
