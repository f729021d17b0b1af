"""A tiny OAuth 2.0 token endpoint on loopback for the client end-to-end runs.

POST /token with client credentials (form body, credentials in the body) answers a new
access token `tok-<n>` each time, valid for an hour. It refuses anything else, so a broker
that sent the wrong grant or secret fails the run. Prints `port=<n>` once it listens.
Standard library only: it runs wherever the clients' Python runs.
"""

import json
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CLIENT_ID = "e2e-client"
CLIENT_SECRET = "e2e-secret"


class Vendor(BaseHTTPRequestHandler):
    issued = 0

    def do_POST(self):  # noqa: N802 (the stdlib's name)
        length = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(length).decode())
        given = {k: v[0] for k, v in form.items()}
        if self.path != "/token":
            return self.answer(404, {"error": "not_found"})
        if given.get("grant_type") != "client_credentials":
            return self.answer(400, {"error": "unsupported_grant_type"})
        if given.get("client_id") != CLIENT_ID or given.get("client_secret") != CLIENT_SECRET:
            return self.answer(401, {"error": "invalid_client"})
        Vendor.issued += 1
        self.answer(200, {"access_token": f"tok-{Vendor.issued}", "token_type": "Bearer", "expires_in": 3600})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


def main():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Vendor)
    print(f"port={server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
