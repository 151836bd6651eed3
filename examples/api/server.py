#!/usr/bin/env python3
"""A small JSON API for the example notebook `chained.dbk`: a login that
hands out a token, and requests that need it.

    python3 server.py [PORT [NAME]]

serves on 127.0.0.1:PORT (8765 by default); NAME (default `dev`) is what
`/me` says the server is, so that switching environments shows which one
answered. Standard library only.
"""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PASSWORD = "hunter2"
ORDERS = {7: [{"id": 101, "item": "notebook", "total": 12.5},
              {"id": 102, "item": "pencils", "total": 4.25},
              {"id": 103, "item": "ink", "total": 8.0}]}


class Api(BaseHTTPRequestHandler):
    server_version = "example-api"

    def reply(self, status, value):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def user(self):
        """The user whose token the request carries, or None."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer tok-"):
            return auth[len("Bearer tok-"):]
        return None

    def do_POST(self):
        if self.path != "/login":
            return self.reply(404, {"error": "no such path"})
        length = int(self.headers.get("Content-Length") or 0)
        try:
            login = json.loads(self.rfile.read(length) or b"{}")
        except ValueError:
            return self.reply(400, {"error": "the body is not JSON"})
        if login.get("password") != PASSWORD:
            return self.reply(401, {"error": "wrong password"})
        name = login.get("user", "")
        return self.reply(200, {"token": "tok-" + name, "user": {"name": name, "id": 7}})

    def do_GET(self):
        user = self.user()
        if user is None:
            return self.reply(401, {"error": "log in first"})
        if self.path == "/me":
            return self.reply(200, {"name": user, "id": 7, "server": self.server.name})
        parts = self.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "users" and parts[2] == "orders" and parts[1].isdigit():
            return self.reply(200, ORDERS.get(int(parts[1]), []))
        return self.reply(404, {"error": "no such path"})

    def log_message(self, format, *args):
        pass


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    server = ThreadingHTTPServer(("127.0.0.1", port), Api)
    server.name = sys.argv[2] if len(sys.argv) > 2 else "dev"
    print(f"serving on http://127.0.0.1:{port} as {server.name}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
