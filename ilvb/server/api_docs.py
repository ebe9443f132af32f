"""``/docs``: Swagger UI for ``/openapi.json``, served from this server (no third-party CDN).

The assets come from the ``swagger-ui-py`` package (it ships the Swagger UI 5 distribution); the
page and its start-up script are ours, so the page runs under the same Content-Security-Policy
as every other page (``script-src 'self'``, no inline script). ReDoc is not offered. Without the
package installed, ``/docs`` answers 404 ``not_found``; ``/openapi.json`` is always there.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

from ilvb.errors import NotFound

DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"

_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} API</title>
  <link rel="stylesheet" href="{assets}/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/swagger-ui-bundle.js"></script>
  <script src="{docs}/init.js"></script>
</body>
</html>
"""

_INIT = """window.ui = SwaggerUIBundle({{
  url: {openapi},
  dom_id: "#swagger-ui",
  deepLinking: true,
  presets: [SwaggerUIBundle.presets.apis],
}});
"""


def swagger_ui_dir() -> Path | None:
    """The Swagger UI distribution shipped by ``swagger-ui-py``, or None when not installed."""
    spec = importlib.util.find_spec("swagger_ui")
    if spec is None or not spec.submodule_search_locations:
        return None
    static = Path(next(iter(spec.submodule_search_locations))) / "static"
    return static if (static / "swagger-ui-bundle.js").is_file() else None


def mount_api_docs(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Add ``/docs`` (page), ``/docs/init.js`` and ``/docs/assets/*`` to ``app``."""
    assets = swagger_ui_dir()

    @app.get(DOCS_PATH, include_in_schema=False)
    async def docs_page() -> HTMLResponse:
        if assets is None:
            raise NotFound(message="API docs need the swagger-ui-py package")
        page = _PAGE.format(title=app.title, assets=ASSETS_PATH, docs=DOCS_PATH)
        return HTMLResponse(page)

    @app.get(f"{DOCS_PATH}/init.js", include_in_schema=False)
    async def docs_init() -> Response:
        return Response(_INIT.format(openapi=json.dumps(openapi_url)), media_type="text/javascript")

    if assets is not None:
        app.mount(ASSETS_PATH, StaticFiles(directory=assets), name="api-docs-assets")
