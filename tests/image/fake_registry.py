# SPDX-License-Identifier: Apache-2.0
"""A read-only registry that demands Bearer tokens (like Docker Hub), serving one OCI layout as
repository test/app, for the Bearer-token part of registry.sh.  Blob GETs are redirected to a
second path (as registries redirect to storage).

Usage: fake_registry.py PORT LAYOUT_DIR USER:PASS LOGFILE"""
import base64, hashlib, json, os, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, layout, userpass, logfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
REPO = "test/app"
TOKEN = "tok-" + hashlib.sha256(os.urandom(16)).hexdigest()[:16]


def log(msg):
    with open(logfile, "a") as f:
        f.write(msg + "\n")


def blob(d):
    p = os.path.join(layout, "blobs", "sha256", d.split(":", 1)[1])
    return open(p, "rb").read() if os.path.isfile(p) else None


class H(BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def send(self, code, body=b"", ctype="application/json", extra=None):
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def challenge(self):
        self.send(401, b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}',
                  extra={"WWW-Authenticate": 'Bearer realm="http://127.0.0.1:%d/token",service="fake",'
                                             'scope="repository:%s:pull"' % (port, REPO)})

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = self.path.split("?", 1)[0]
        auth = self.headers.get("Authorization", "")
        if path == "/token":
            want = "Basic " + base64.b64encode(userpass.encode()).decode()
            if auth != want:
                log("token: refused")
                return self.send(401, b"{}")
            log("token: issued for " + self.path.split("?", 1)[1])
            return self.send(200, json.dumps({"token": TOKEN, "expires_in": 300}).encode())
        if path.startswith("/storage/"):
            b = blob(path[len("/storage/"):])
            log("storage: " + ("auth header leaked" if auth else "ok"))
            return self.send(200, b, "application/octet-stream") if b is not None else self.send(404)
        if auth != "Bearer " + TOKEN:
            log("unauthorized " + path)
            return self.challenge()
        log("authorized " + path)
        if path == "/v2/":
            return self.send(200, b"{}")
        pre = "/v2/%s/" % REPO
        if not path.startswith(pre):
            return self.send(404)
        kind, _, ref = path[len(pre):].partition("/")
        if kind == "manifests":
            idx = json.load(open(os.path.join(layout, "index.json")))
            for m in idx["manifests"]:
                if ref in (m["digest"], m.get("annotations", {}).get("org.opencontainers.image.ref.name")):
                    body = blob(m["digest"])
                    return self.send(200, body, m["mediaType"], {"Docker-Content-Digest": m["digest"]})
            return self.send(404)
        if kind == "blobs" and blob(ref) is not None:
            return self.send(307, extra={"Location": "http://localhost:%d/storage/%s" % (port, ref)})
        return self.send(404)


ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
