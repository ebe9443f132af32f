"""The pages under the server's Content-Security-Policy: nothing they need is refused.

Served by a real ``ilvb serve`` (the static test server sends no CSP): the demo and pre-call
pages start, ``/docs`` renders the API from locally served Swagger UI, and Chromium reports no
CSP violation on any of them.
"""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def _open_recording_violations(new_page, url: str) -> tuple[object, list[str]]:
    page = await new_page(enforce_csp=True)
    violations: list[str] = []
    page.on(
        "console",
        lambda m: (
            ("Content Security Policy" in m.text or "Refused to" in m.text)
            and violations.append(m.text)
        ),
    )
    await page.add_init_script(
        "document.addEventListener('securitypolicyviolation', e =>"
        " console.error('Refused to (CSP) ' + e.violatedDirective + ' ' + e.blockedURI));"
    )
    response = await page.goto(url)
    assert response is not None and response.ok, url
    assert "frame-ancestors 'none'" in (await response.all_headers())["content-security-policy"]
    return page, violations


async def test_api_docs_render_from_local_assets_under_the_csp(new_page, ilvb_origin):
    page, violations = await _open_recording_violations(new_page, f"{ilvb_origin}/docs")
    foreign: list[str] = []
    page.on("request", lambda r: not r.url.startswith(ilvb_origin) and foreign.append(r.url))
    await page.wait_for_selector(".swagger-ui .info .title", timeout=20000)
    assert "ilvb" in await page.inner_text(".swagger-ui .info .title")
    await page.wait_for_selector(".opblock-tag-section", timeout=10000)
    assert violations == [] and foreign == []


@pytest.mark.parametrize(
    "path",
    [
        "/demo?user=csp&room=csp-room&autojoin=1",
        "/class?user=csp&room=csp-class&role=teacher&autojoin=1",
        "/live?user=csp&room=csp-live&role=viewer&autojoin=1",
        "/precall",
        "/sdk/example.html?user=csp&room=e",
    ],
)
async def test_pages_run_without_csp_violations(new_page, ilvb_origin, path):
    page, violations = await _open_recording_violations(new_page, f"{ilvb_origin}{path}")
    if path.startswith(("/demo", "/class", "/live")):
        await page.wait_for_selector("body[data-state=joined]", timeout=20000)
    elif path.startswith("/sdk/example"):  # its inline module script ran and entered the room
        await page.wait_for_selector("#status:has-text('in e as csp')", timeout=20000)
    else:
        await page.wait_for_load_state("networkidle")
    await page.wait_for_timeout(500)
    assert violations == []
