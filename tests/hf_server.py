#!/usr/bin/env python3
"""A stand-in for the Hugging Face hub, for tests/t_model_pull.c. Listens on 127.0.0.1 (a free
port), prints "PORT PID" on its first line, and serves, like the hub:
  GET /api/models/OWNER/NAME?blobs=true   {"siblings": [{"rfilename", "size", "lfs": {"sha256", "size"}}]}
  GET /OWNER/NAME/resolve/main/FILE       302 to /cdn/OWNER/NAME/FILE with X-Linked-Etag, X-Linked-Size
  GET /cdn/...                            the bytes, with Range support (206 + Content-Range)
Repositories come from a JSON file given as argv[1]: {"owner/name": {"private": bool,
"files": {"FILE": {"path": LOCAL, "mode": "cut"|"norange"|"corrupt"|"loop"|"badscheme"|""}}}}.
Modes: cut = the first GET of the bytes stops half way (connection closed); norange = Range is
ignored (200); corrupt = one byte differs from what the API publishes; loop = redirects forever;
badscheme = redirects to file:///. Every request line and its Range header are appended to argv[2]
(a log the test reads). The private repository wants "Authorization: Bearer secret-token"."""
import hashlib
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

CONFIG = json.load(open(sys.argv[1]))
LOG = sys.argv[2]
CUT_DONE = set()
LOCK = threading.Lock()


def blob(path, mode):
    data = open(path, "rb").read()
    served = bytearray(data)
    if mode == "corrupt" and served:
        served[len(served) // 2] ^= 0xFF
    return data, bytes(served)


class Hub(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def log(self):
        with LOCK, open(LOG, "a") as f:
            f.write("%s %s range=%s auth=%s\n" % (self.command, self.path, self.headers.get("Range", "-"),
                                                  "yes" if self.headers.get("Authorization") else "no"))

    def send(self, code, body=b"", headers=None, ctype="application/json"):
        self.send_response(code)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def repo(self, name):
        r = CONFIG.get(name)
        if r is None:
            return None, 404
        if r.get("private") and self.headers.get("Authorization") != "Bearer secret-token":
            return None, 401
        return r, 200

    def do_GET(self):
        self.log()
        u = urlparse(self.path)
        p = unquote(u.path)
        if p.startswith("/api/models/"):
            r, code = self.repo(p[len("/api/models/"):])
            if not r:
                return self.send(code, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
            sib = []
            for name, f in r["files"].items():
                data, _ = blob(f["path"], f.get("mode", ""))
                sib.append({"rfilename": name, "size": len(data),
                            "lfs": {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}})
            sib.append({"rfilename": "README.md", "size": 10})
            return self.send(200, json.dumps({"id": p[len("/api/models/"):], "siblings": sib}).encode())
        if "/resolve/main/" in p:
            name, fname = p[1:].split("/resolve/main/", 1)
            r, code = self.repo(name)
            if not r:
                return self.send(code, b'{"error": "Repository not found"}')
            f = r["files"].get(fname)
            if not f:
                return self.send(404, b'{"error": "Entry not found"}', {"X-Error-Code": "EntryNotFound"})
            mode = f.get("mode", "")
            data, _ = blob(f["path"], mode)
            # Another host name, as the hub's CDN is: credentials must not follow the redirect.
            loc = "http://localhost:%d/cdn/%s/%s" % (self.server.server_address[1], name, fname)
            if mode == "loop":
                loc = self.path
            if mode == "badscheme":
                loc = "file:///etc/passwd"
            return self.send(302, b"", {"Location": loc, "X-Linked-Etag": '"%s"' % hashlib.sha256(data).hexdigest(),
                                        "X-Linked-Size": str(len(data)), "ETag": '"gitblob"'})
        if p.startswith("/cdn/"):
            rest = p[len("/cdn/"):]
            for name, r in CONFIG.items():
                if rest.startswith(name + "/") and rest[len(name) + 1:] in r["files"]:
                    f = r["files"][rest[len(name) + 1:]]
                    return self.bytes(rest, f)
            return self.send(404, b"no such blob")
        return self.send(404, b"not found")

    def bytes(self, key, f):
        mode = f.get("mode", "")
        _, data = blob(f["path"], mode)
        start = 0
        rng = self.headers.get("Range")
        if rng and mode != "norange" and rng.startswith("bytes=") and rng.endswith("-"):
            start = int(rng[6:-1])
            if start >= len(data):
                return self.send(416, b"", {"Content-Range": "bytes */%d" % len(data)})
            self.send_response(206)
            self.send_header("Content-Range", "bytes %d-%d/%d" % (start, len(data) - 1, len(data)))
        else:
            self.send_response(200)
        body = data[start:]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        with LOCK:
            cut = mode == "cut" and key not in CUT_DONE
            CUT_DONE.add(key)
        if cut:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)
            return
        self.wfile.write(body)


srv = ThreadingHTTPServer(("127.0.0.1", 0), Hub)
srv.daemon_threads = True
print(srv.server_address[1], os.getpid(), flush=True)
srv.serve_forever()
