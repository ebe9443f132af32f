"""The Web SDK connects with an ID token of a real OpenID provider (oidc-provider, see
tests/auth/oidc_real.py) instead of a ticket, enters a room, and gets the server's oidc_* code
for a token of another client."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.auth.oidc_real import RealProvider, require_provider
from tests.auth.test_oidc_provider import configure
from tests.conftest import LiveServer

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

CONNECT_JS = """async ([idToken, appId]) => {
  const sdk = await import('/sdk/ilvb.js');
  try {
    const c = await sdk.Client.connect(location.origin, {idToken, appId});
    const me = (await c.enter('lobby', {receive: false})).me;
    await c.close();
    return {user: c.userId, role: me.role, permissions: me.permissions};
  } catch (e) {
    return {code: e.code};
  }
}"""


async def test_the_web_sdk_enters_a_room_with_an_id_token(
    new_page: Callable[..., Awaitable[Any]], make_server: Callable[..., LiveServer]
) -> None:
    require_provider()
    provider = RealProvider()
    await asyncio.to_thread(provider.start)
    try:
        server = make_server(oidc={"internal_hosts": ["127.0.0.1"]})
        configure(server, provider.issuer, "ilvb-app")
        good = await asyncio.to_thread(provider.login, "host-web")
        other = await asyncio.to_thread(provider.login, "host-web", "other-app")
        page = await new_page(f"{server.base_url}/console")
        ok = await page.evaluate(CONNECT_JS, [good, server.app_id])
        assert ok == {
            "user": "host-web",
            "role": "host",
            "permissions": {"audio": True, "video": True, "screen": True},
        }
        refused = await page.evaluate(CONNECT_JS, [other, server.app_id])
        assert refused == {"code": "oidc_wrong_audience"}
    finally:
        provider.close()
