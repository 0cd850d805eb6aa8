#!/usr/bin/env python3
"""The HTML report's flame graph in a real browser, driven as a person would drive it.

Headless Chromium, controlled over the DevTools protocol on a pipe (--remote-debugging-pipe: no
port, no library), opens the HTML report of a python3 run, finds the flame graph, clicks a frame
below the root and checks that the graph zoomed to it (the frame now spans the whole width and
the graph says which frame it shows), types into the search box and checks that frames are
marked, switches to pinned bytes; and checks that the page logged nothing to the console, threw
nothing, and made no request but the report itself. A screenshot of the zoomed graph is kept as a
test artefact.

Usage: flame_chromium_test.py FRAGSCOPE ARTEFACT_DIR
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

cli, artefacts = sys.argv[1], sys.argv[2]
browser = shutil.which("chromium") or shutil.which("chromium-browser")
if not browser:
    print("FAIL: chromium is not installed (scripts/install-deps.sh --test installs it)")
    sys.exit(1)
work = tempfile.mkdtemp()


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


html = os.path.join(work, "report.html")
# python3, a program nobody here wrote, with call sites that share their outer frames and part
# ways below: a frame under the root spans part of the graph, and a click must widen it.
program = ("import time\n"
           "keep = [bytearray(3000 + i % 512) for i in range(30000)]\n"
           "more = [str(i) * 400 for i in range(20000)]\n"
           "time.sleep(0.6)\n"
           "import os; os._exit(0)  # no teardown: the last snapshot holds the live data\n")
subprocess.run([cli, "run", "--no-report", "-i", "200", "-o", os.path.join(work, "f.%p.jsonl"), "--html", html, "--",
                "python3", "-c", program], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
if not os.path.getsize(html):
    fail("no HTML report")


class Browser:
    """Chromium with the DevTools protocol on fds 3 (its input) and 4 (its output), messages ended by NUL."""

    def __init__(self):
        to_r, self.to_w = os.pipe()
        self.from_r, from_w = os.pipe()
        hi_r, hi_w = os.dup(to_r), os.dup(from_w)  # out of the way of 3 and 4 before the child moves them there

        def fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        flags = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
                 "--proxy-server=127.0.0.1:9", "--user-data-dir=" + os.path.join(work, "profile"),
                 "--remote-debugging-pipe", "--window-size=1280,1600", "about:blank"]
        self.proc = subprocess.Popen([browser] + flags, preexec_fn=fds, pass_fds=(3, 4), stdout=subprocess.DEVNULL,
                                     stderr=open(os.path.join(work, "chromium.log"), "wb"))
        for fd in (to_r, from_w, hi_r, hi_w):
            os.close(fd)
        self.next_id, self.buf, self.events = 0, b"", []

    def _read_message(self, deadline):
        while b"\0" not in self.buf:
            if time.monotonic() > deadline:
                fail("chromium did not answer within the deadline")
            import select
            r, _, _ = select.select([self.from_r], [], [], 1)
            if r:
                chunk = os.read(self.from_r, 1 << 16)
                if not chunk:
                    fail("chromium closed the DevTools pipe: " + open(os.path.join(work, "chromium.log")).read()[-500:])
                self.buf += chunk
        msg, self.buf = self.buf.split(b"\0", 1)
        return json.loads(msg)

    def call(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_w, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            m = self._read_message(deadline)
            if m.get("id") == self.next_id:
                if "error" in m:
                    fail(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def wait_event(self, method, timeout=60):
        deadline = time.monotonic() + timeout
        for i, e in enumerate(self.events):
            if e.get("method") == method:
                return self.events.pop(i)
        while True:
            m = self._read_message(deadline)
            if m.get("method") == method:
                return m
            self.events.append(m)

    def close(self):
        try:
            self.call("Browser.close", timeout=10)
        finally:
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


b = Browser()
try:
    target = b.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    s = b.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    for domain in ("Runtime", "Log", "Network", "Page"):
        b.call(domain + ".enable", session=s)
    b.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1600, "deviceScaleFactor": 1, "mobile": False},
           session=s)
    url = "file://" + html
    b.call("Page.navigate", {"url": url}, session=s)
    b.wait_event("Page.loadEventFired")

    def js(expr):
        r = b.call("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session=s)
        if "exceptionDetails" in r:
            fail(f"evaluating {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    state = js("""(() => { const f = document.getElementById('flame');
        if (!f) return null;
        const frames = [...f.querySelectorAll('.frame')];
        return {zoom: f.dataset.zoom, metric: f.dataset.metric, n: frames.length,
                depths: frames.map(e => +e.dataset.depth), names: frames.map(e => e.dataset.name),
                widths: frames.map(e => e.style.width)}; })()""")
    if state is None:
        fail("the report has no flame graph (#flame)")
    if state["n"] < 3 or state["zoom"] != "all" or state["metric"] != "l":
        fail(f"the flame graph is not drawn as expected at first: {state}")
    # A frame below the root that does not already span the whole graph, else the deepest frame.
    pick = js("""(() => { const frames = [...document.querySelectorAll('#flame .frame')];
        const el = frames.find(e => +e.dataset.depth >= 1 && parseFloat(e.style.width) < 99.5 && parseFloat(e.style.width) > 2);
        if (!el) return null;
        el.scrollIntoView({block: 'center'});
        const r = el.getBoundingClientRect();
        return {name: el.dataset.name, depth: +el.dataset.depth, width: el.style.width,
                x: r.left + Math.min(r.width / 2, 20), y: r.top + r.height / 2}; })()""")
    if pick is None:
        fail(f"no frame below the root spans part of the graph: {list(zip(state['depths'], state['widths']))[:40]}")
    for kind in ("mousePressed", "mouseReleased"):
        b.call("Input.dispatchMouseEvent", {"type": kind, "x": pick["x"], "y": pick["y"], "button": "left", "clickCount": 1},
               session=s)
    after = js("""(() => { const f = document.getElementById('flame');
        const el = [...f.querySelectorAll('.frame')].find(e => e.dataset.name === %s && +e.dataset.depth === %d);
        return {zoom: f.dataset.zoom, width: el ? el.style.width : null,
                info: document.getElementById('flame-info').textContent}; })()""" % (json.dumps(pick["name"]), pick["depth"]))
    if after["zoom"] != pick["name"] or after["width"] != "100%":
        fail(f"clicking {pick} did not zoom to it: {after}")
    print(f"clicked '{pick['name']}' (depth {pick['depth']}, width {pick['width']}): zoomed, now {after['width']}; "
          f"{after['info']}")
    shot = b.call("Page.captureScreenshot", {"format": "png"}, session=s)["data"]
    import base64
    os.makedirs(artefacts, exist_ok=True)
    png = base64.b64decode(shot)
    if png[:8] != b"\x89PNG\r\n\x1a\n" or len(png) < 10_000:
        fail(f"the screenshot is not a picture ({len(png)} bytes)")
    with open(os.path.join(artefacts, "flame_graph_zoomed.png"), "wb") as f:
        f.write(png)

    # Search: typed as a person types, frames whose name contains it are marked.
    word = pick["name"][:4]
    js("document.getElementById('flame-reset').click(); document.getElementById('flame-search').focus()")
    b.call("Input.insertText", {"text": word}, session=s)
    found = js("""(() => ({marked: document.querySelectorAll('#flame .frame.match').length,
        info: document.getElementById('flame-info').textContent, zoom: document.getElementById('flame').dataset.zoom}))()""")
    if found["marked"] < 1 or word.lower() not in found["info"].lower() or found["zoom"] != "all":
        fail(f"searching {word!r} marked nothing, or reset did not zoom out: {found}")
    js("document.querySelector('#flame-metric button[data-metric=p]').click()")
    if js("document.getElementById('flame').dataset.metric") != "p":
        fail("the pinned-bytes button does not switch the graph")

    # Nothing logged, nothing thrown, nothing fetched but the report.
    time.sleep(0.5)
    js("1")  # collects the events that came meanwhile
    bad = [e for e in b.events if e.get("method") in ("Runtime.consoleAPICalled", "Runtime.exceptionThrown")
           or (e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning"))]
    if bad:
        fail(f"the page logged or threw: {bad[:3]}")
    requests = [e["params"]["request"]["url"] for e in b.events if e.get("method") == "Network.requestWillBeSent"]
    if any(r != url for r in requests):
        fail(f"the page made requests beyond itself: {[r for r in requests if r != url][:5]}")
finally:
    b.close()
    shutil.rmtree(work, ignore_errors=True)
print(f"PASS ({len(requests)} request(s), all the report itself; screenshot in {artefacts}/flame_graph_zoomed.png)")
