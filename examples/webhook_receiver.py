"""A webhook receiver for an app's server: verifies each delivery, drops duplicates, catches up.

Run it (stdlib HTTP server, the ilvb package for the check):

    ILVB_APP_ID=app_... ILVB_APP_SECRET=... python3 examples/webhook_receiver.py 8000

then point the app's endpoint at it (server token or admin key):

    curl -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
         -d '{"url": "http://127.0.0.1:8000/ilvb"}' http://127.0.0.1:7880/v1/apps/$APP/webhooks

It answers 200 only after it has kept the event (here: printed and remembered), 401 when the
signature does not verify, so ilvb retries what was not kept. A receiver that was down can also
pull what it missed: ``GET /v1/apps/{app_id}/webhooks/events?after=<last id seen>``.
"""

from __future__ import annotations

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ilvb.errors import IlvbError
from ilvb.webhooks.signing import verify_webhook

SECRET = os.environ.get("ILVB_APP_SECRET", "")
seen: set[int] = set()


class Hook(BaseHTTPRequestHandler):
    """POST /ilvb: one event per request."""

    def do_POST(self) -> None:  # noqa: N802 (http.server's name)
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        try:
            event = verify_webhook(SECRET, body, dict(self.headers))
        except IlvbError as exc:
            self.send_response(401)
            self.end_headers()
            print("refused:", exc.message, file=sys.stderr)
            return
        if event["id"] not in seen:  # a retried delivery that we already kept
            seen.add(event["id"])
            print(json.dumps(event))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        """Quiet: one line per event is printed above."""


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    ThreadingHTTPServer(("127.0.0.1", port), Hook).serve_forever()
