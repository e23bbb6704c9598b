#!/usr/bin/env python3
"""cdp.py - drive a real headless Chromium for the tests, over the
DevTools protocol on a pipe (--remote-debugging-pipe: requests on fd 3,
answers on fd 4, each a JSON message ended by a NUL byte).

    python3 t/cdp.py URL SCREENSHOT.png [EXPRESSION ...]

Loads URL, runs each JavaScript EXPRESSION in the page in turn (a promise
is awaited), saves a screenshot, and prints one JSON object:
{"results": [value of each expression], "errors": [console errors and
uncaught exceptions], "requests": [every URL the page asked for]}.
Chromium is started and stopped by PID; its profile is a temporary dir.
"""
import base64
import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

TIMEOUT = 30


class Browser:
    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="cosmos-chromium-")
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        # Above 4, so that moving them to 3 and 4 clobbers neither.
        to_r, from_w = (self.above(fd) for fd in (to_r, from_w))
        # Chromium reads fd 3 and writes fd 4: bash puts the pipes there (dash takes no fd above 9).
        args = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                "--remote-debugging-pipe", "--user-data-dir=" + self.profile,
                "--no-first-run", "--no-default-browser-check", "--mute-audio",
                "--autoplay-policy=no-user-gesture-required", "--window-size=1280,900", "about:blank"]
        self.proc = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_r} 4>&{from_w} {to_r}<&- {from_w}>&-', "bash"] + args,
            pass_fds=(to_r, from_w), stdout=subprocess.DEVNULL,
            stderr=None if os.environ.get("CDP_DEBUG") else subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        os.close(to_r)
        os.close(from_w)
        self.buf = b""
        self.next_id = 0
        self.events = []

    @staticmethod
    def above(fd):
        high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(fd)
        return high

    def read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.time() > deadline:
                raise TimeoutError("chromium did not answer")
            chunk = os.read(self.from_r, 1 << 16)
            if not chunk:
                raise EOFError("chromium closed its pipe")
            self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + TIMEOUT
        while True:
            m = self.read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, deadline):
        while True:
            for i, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(i)
            self.events.append(self.read_message(deadline))

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: cdp.py URL SCREENSHOT [EXPRESSION ...]")
    url, shot, exprs = sys.argv[1], sys.argv[2], sys.argv[3:]
    b = Browser()
    try:
        target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            b.call(domain + ".enable", session=s)
        b.call("Page.navigate", {"url": url}, session=s)
        b.wait_event("Page.loadEventFired", time.time() + TIMEOUT)
        results = []
        for e in exprs:
            r = b.call("Runtime.evaluate", {"expression": e, "awaitPromise": True, "returnByValue": True}, session=s)
            if "exceptionDetails" in r:
                results.append({"exception": r["exceptionDetails"].get("exception", {}).get("description", "")})
            else:
                results.append(r.get("result", {}).get("value"))
        data = b.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
        with open(shot, "wb") as f:
            f.write(base64.b64decode(data))
        errors, requests = [], []
        for m in b.events:
            p = m.get("params", {})
            if m.get("method") == "Runtime.exceptionThrown":
                errors.append(p["exceptionDetails"].get("text", "exception"))
            elif m.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                errors.append(" ".join(str(a.get("value", a.get("description", ""))) for a in p.get("args", [])))
            elif m.get("method") == "Log.entryAdded" and p["entry"].get("level") == "error":
                errors.append(p["entry"].get("text", ""))
            elif m.get("method") == "Network.requestWillBeSent":
                requests.append(p["request"]["url"])
        print(json.dumps({"results": results, "errors": errors, "requests": requests}))
    finally:
        b.close()


if __name__ == "__main__":
    main()
