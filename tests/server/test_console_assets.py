"""The console's files ship inside the package (installed with ilvb, served at /console)."""

from __future__ import annotations

import os
from pathlib import Path


def test_console_assets_ship_with_the_package() -> None:
    import ilvb

    root = Path(ilvb.__file__).parent / "web" / "console"
    assert {p.name for p in root.iterdir()} >= {
        "index.html",
        "console.js",
        "api.js",
        "chart.js",
        "dom.js",
        "console.css",
        "view.js",
        "app-page.js",
        "rooms-page.js",
        "quality-page.js",
        "sdk-page.js",
    }
    assert os.path.getsize(root / "console.js") > 1000
