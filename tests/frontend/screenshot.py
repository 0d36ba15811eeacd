# SPDX-License-Identifier: Apache-2.0
"""Headless Chromium screenshot of a page, failing on any failed resource load.

Usage: screenshot.py URL OUT.png [WIDTH HEIGHT]
Drives Debian's chromium over the DevTools protocol on a pipe
(--remote-debugging-pipe: fd 3 in, fd 4 out, NUL-separated JSON), so no
extra Python module is needed.  Records every request of the page; exits 1
listing the failures when a request fails (network error, blocked by CSP,
HTTP status >= 400) or the console reports an error; writes the PNG.
"""
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

url, out = sys.argv[1], sys.argv[2]
width = int(sys.argv[3]) if len(sys.argv) > 3 else 1280
height = int(sys.argv[4]) if len(sys.argv) > 4 else 1800
chromium = shutil.which("chromium") or "/usr/bin/chromium"
profile = tempfile.mkdtemp(prefix="chromium-profile-")

to_chrome_r, to_chrome_w = os.pipe()
from_chrome_r, from_chrome_w = os.pipe()


def child_fds():
    # Chromium expects its command pipe on fd 3 and its reply pipe on fd 4.
    # dup first: a pipe end may already be fd 3 or 4, and dup2 onto itself
    # would keep its close-on-exec flag.
    a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
    os.dup2(a, 3)
    os.dup2(b, 4)
    os.set_inheritable(3, True)
    os.set_inheritable(4, True)


flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--user-data-dir=" + profile, "--remote-debugging-pipe", "--hide-scrollbars",
         "--window-size=%d,%d" % (width, height), "about:blank"]
proc = subprocess.Popen([chromium] + flags, preexec_fn=child_fds, close_fds=False,
                        stdout=subprocess.DEVNULL, stderr=open(os.environ.get("CHROMIUM_LOG", os.devnull), "w"))
os.close(to_chrome_r)
os.close(from_chrome_w)
wr = os.fdopen(to_chrome_w, "wb", buffering=0)
rd = os.fdopen(from_chrome_r, "rb", buffering=0)
buf = b""
next_id = 0
events = []
deadline = time.time() + 60


def read_message():
    global buf
    while b"\0" not in buf:
        if time.time() > deadline:
            raise TimeoutError("chromium did not answer within 60 s")
        chunk = rd.read(65536)
        if not chunk:
            raise EOFError("chromium closed the DevTools pipe")
        buf += chunk
    msg, buf = buf.split(b"\0", 1)
    return json.loads(msg)


def send(method, params=None, session=None):
    global next_id
    next_id += 1
    msg = {"id": next_id, "method": method, "params": params or {}}
    if session:
        msg["sessionId"] = session
    wr.write(json.dumps(msg).encode() + b"\0")
    while True:
        m = read_message()
        if m.get("id") == next_id:
            if "error" in m:
                raise RuntimeError("%s: %s" % (method, m["error"]))
            return m.get("result", {})
        events.append(m)


def wait_event(name, timeout):
    end = time.time() + timeout
    for m in events:
        if m.get("method") == name:
            return True
    while time.time() < end:
        m = read_message()
        events.append(m)
        if m.get("method") == name:
            return True
    return False


failures = []
requests = {}
try:
    target = send("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Network", "Page", "Runtime", "Log"):
        send(domain + ".enable", session=session)
    send("Emulation.setDeviceMetricsOverride",
         {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}, session=session)
    nav = send("Page.navigate", {"url": url}, session=session)
    if nav.get("errorText"):
        failures.append("navigation: " + nav["errorText"])
    if not wait_event("Page.loadEventFired", 30):
        failures.append("the page did not finish loading within 30 s")
    # Let late requests (lazy images) settle.
    end = time.time() + 1.0
    while time.time() < end:
        send("Runtime.evaluate", {"expression": "document.readyState"}, session=session)
        time.sleep(0.2)
    shot = send("Page.captureScreenshot", {"format": "png"}, session=session)
    with open(out, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    for m in events:
        meth, p = m.get("method"), m.get("params", {})
        if meth == "Network.requestWillBeSent":
            requests[p["requestId"]] = p["request"]["url"]
        elif meth == "Network.responseReceived":
            r = p["response"]
            requests[p["requestId"]] = r["url"]
            if r["status"] >= 400:
                failures.append("HTTP %d for %s" % (r["status"], r["url"]))
        elif meth == "Network.loadingFailed":
            failures.append("load failed (%s%s) for %s" % (
                p.get("errorText", ""), ", blocked: " + p["blockedReason"] if p.get("blockedReason") else "",
                requests.get(p["requestId"], p["requestId"])))
        elif meth == "Log.entryAdded" and p["entry"]["level"] == "error":
            failures.append("console: " + p["entry"]["text"])
        elif meth == "Runtime.exceptionThrown":
            failures.append("script exception: " + json.dumps(p.get("exceptionDetails", {}))[:200])
finally:
    try:
        send("Browser.close")
    except Exception:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
    shutil.rmtree(profile, ignore_errors=True)

for u in sorted(set(requests.values())):
    print("loaded", u)
if failures:
    for f in failures:
        print("FAILED:", f)
    sys.exit(1)
print("screenshot: %s, %d resources, no failed loads" % (out, len(set(requests.values()))))
