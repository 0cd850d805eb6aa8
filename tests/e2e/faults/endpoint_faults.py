#!/usr/bin/env python3
"""Fault probes of issue 16 for the metrics endpoint, the host's descriptors and fd 2.

Usage: endpoint_faults.py --shim LIB --probes FD_PROBES --case CASE

Every host is run plain and under the shim; what the host sees (stdout, exit status, stderr
without fragscope's own lines, the files it writes) must be the same. Everything is on loopback;
every wait is bounded and ends on an event (a port answering, a line on a pipe), never on the
scheduler's timing. Cases (each asserts):

  flood         the endpoint answers 5 scrapes, each within 1 s, while 1000 idle connections
                are open (re-opened before each scrape when the endpoint closed them); then,
                with no client, fragscope's threads use no CPU over 2 s
  slowloris     a connection sending 2 bytes a second does not delay a scrape (< 1 s), and is
                closed by the endpoint within its 2 s deadline (seen within 6 s)
  wildcard      FRAGSCOPE_METRICS_ADDR=0.0.0.0:PORT: served, and exactly one warning naming
                the non-loopback address
  exec_children a parent serving the port runs 20 exec'd children (10 directly, 10 through
                sh -c) that live past their first snapshot: no "Address already in use" and no
                fragscope line at all on stderr; the parent still serves its own metrics
  conflict      the port held by a foreign process (not of the measured tree): exactly one
                warning saying "Address already in use"
  daemon        a host that closes fds >= 3 and puts a listening socket of its own on every
                number 3..63: all of its 6 clients get its reply (never fragscope's 404), and
                fragscope's threads use no CPU over 2 s (no accept spin)
  forkreuse     the host reuses the numbers (its file on 3..63) and forks: every write of the
                child succeeds and the file holds exactly its lines
  stderr        fd 2 closed and reopened as a data file: the file holds only the host's bytes
                (no warning, no exit summary)
  escape        a bad FRAGSCOPE_INTERVAL_MS full of terminal escapes: the warning shows them as
                \\xNN; stderr holds no control byte but newlines
  daemon_hosttable, forkreuse_hosttable, stderr_hosttable
                the same with close_range(2) denied by seccomp: the shim's threads work in the
                host's descriptor table (kernels before 5.9), with its identity checks
"""
import argparse
import os
import re
import resource
import socket
import subprocess
import sys
import tempfile
import time

FAILS = []


def fail(msg):
    FAILS.append(msg)
    print("FAIL: " + msg, flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Host:
    """One run of a host program, plain or under the shim, with stdin as a pipe."""

    def __init__(self, argv, work, shim=None, env=None, stdin=True):
        self.work = work
        e = dict(os.environ)
        for k in list(e):
            if k.startswith("FRAGSCOPE_") or k == "LD_PRELOAD":
                del e[k]
        if shim:
            e.update({"LD_PRELOAD": shim, "FRAGSCOPE_OUTPUT": os.path.join(work, "f.%p.jsonl"),
                      "FRAGSCOPE_INTERVAL_MS": "100"})
            e.update(env or {})
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=e)

    def send(self, data):
        self.p.stdin.write(data)
        self.p.stdin.flush()

    def close_stdin(self):
        self.p.stdin.close()
        self.p.stdin = None  # communicate() must not flush it

    def readline(self, timeout=10):
        # The probes print a line when they reached a state; a bounded wait for it.
        import select
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        return self.p.stdout.readline().decode(errors="replace") if r else ""

    def finish(self, timeout=30):
        try:
            out, err = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            out, err = self.p.communicate()
            fail("host did not end within %d s" % timeout)
        return out, err, self.p.returncode


def not_ours(err):
    return [l for l in err.decode(errors="replace").splitlines() if not l.startswith("fragscope")]


def ours(err):
    return [l for l in err.decode(errors="replace").splitlines() if l.startswith("fragscope")]


def same_as_plain(name, plain, shimmed):
    (po, pe, pr), (so, se, sr) = plain, shimmed
    if po != so:
        fail("%s: stdout differs: plain %r, under the shim %r" % (name, po[:300], so[:300]))
    if pr != sr:
        fail("%s: exit status differs: plain %d, under the shim %d" % (name, pr, sr))
    if not_ours(pe) != not_ours(se):
        fail("%s: stderr differs beyond fragscope's lines: %r vs %r" % (name, not_ours(pe), not_ours(se)))


def scrape(port, path="/metrics", timeout=1.0):
    """(status, body, seconds) of one HTTP GET on loopback; status 0 when it failed."""
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        s.settimeout(max(0.05, timeout - (time.monotonic() - t0)))
        s.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path).encode())
        data = b""
        while True:
            remaining = timeout - (time.monotonic() - t0)
            if remaining <= 0:
                raise socket.timeout()
            s.settimeout(remaining)
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
    except OSError:
        return 0, b"", time.monotonic() - t0
    m = re.match(rb"HTTP/1\.1 (\d+)", data)
    head, _, body = data.partition(b"\r\n\r\n")
    return (int(m.group(1)) if m else 0), body, time.monotonic() - t0


def wait_served(port, host, limit=15.0):
    end = time.monotonic() + limit
    while time.monotonic() < end:
        if host.p.poll() is not None:
            return False
        status, body, _ = scrape(port)
        if status == 200 and b"fragscope_" in body:
            return True
        time.sleep(0.05)
    return False


def fragscope_cpu_ticks(pid):
    """utime + stime (clock ticks) of each of the shim's threads (fragscope, fragscope-*)."""
    ticks = {}
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                stat = f.read()
        except OSError:
            continue
        comm = stat[stat.index("(") + 1:stat.rindex(")")]
        if comm == "fragscope" or comm.startswith("fragscope-"):  # not the probe's own fragscope_fault
            fields = stat[stat.rindex(")") + 2:].split()
            ticks[comm + "/" + tid] = int(fields[11]) + int(fields[12])
    return ticks


def assert_idle_cpu(name, pid, seconds=2.0, max_ticks=None):
    hz = os.sysconf("SC_CLK_TCK")
    before = fragscope_cpu_ticks(pid)
    time.sleep(seconds)
    after = fragscope_cpu_ticks(pid)
    used = {k: after[k] - before.get(k, 0) for k in after}
    print("%s: CPU of fragscope's threads over %.0f s: %s (ticks of 1/%d s)" % (name, seconds, used, hz))
    http = sum(v for k, v in used.items() if k.startswith("fragscope-http"))
    total = sum(used.values())
    # The HTTP thread must sleep (a spin is ~200 ticks here); the reporter takes its snapshots
    # every 100 ms, a few ms each: well under a quarter of one CPU.
    if http > 2:
        fail("%s: the metrics thread used %d ticks in %.0f s with no client (spinning?)" % (name, http, seconds))
    if total > (max_ticks if max_ticks is not None else seconds * hz / 4):
        fail("%s: fragscope's threads used %d ticks in %.0f s while the host was idle" % (name, total, seconds))


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < want:
        new = min(hard, max(want, soft)) if hard != resource.RLIM_INFINITY else want
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        soft = new
    return soft


# ---- cases ----------------------------------------------------------------------------------

def served_idle_host(a, work, name):
    """An idle host serving its metrics on a free port: (host, port), or (None, port)."""
    port = free_port()
    h = Host([a.probes, "idle"], work, shim=a.shim, env={"FRAGSCOPE_METRICS_ADDR": str(port), "FRAGSCOPE_SUMMARY": "0"})
    if not wait_served(port, h):
        fail("%s: the endpoint never answered" % name)
        h.p.kill()
        return None, port
    return h, port


def case_flood(a, work):
    nflood = 1000
    if raise_nofile(nflood + 64) < nflood + 64:
        fail("flood: cannot raise the descriptor limit to %d" % (nflood + 64))
        return
    h, port = served_idle_host(a, work, "flood")
    if h is None:
        return
    flood = []

    def fill():
        # Re-open the connections the endpoint closed, up to nflood open ones, all idle.
        alive = []
        for s in flood:
            try:
                if s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                    s.close()
                    continue
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                continue
            alive.append(s)
        flood[:] = alive
        while len(flood) < nflood:
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
    latencies = []
    for _ in range(5):
        fill()
        status, body, took = scrape(port)
        latencies.append(took)
        if status != 200 or b"fragscope_live_requested_bytes" not in body:
            fail("flood: a scrape during %d idle connections got status %d after %.3f s" % (nflood, status, took))
    print("flood: scrape latencies during %d idle connections: %s s" %
          (nflood, ", ".join("%.4f" % t for t in latencies)))
    if max(latencies) >= 1.0:
        fail("flood: a scrape took %.3f s" % max(latencies))
    for s in flood:
        s.close()
    # Every connection closed: the thread sleeps in poll() with nothing to wait for. Wait out the
    # deadlines of those it still held (2 s), then measure.
    time.sleep(2.2)
    assert_idle_cpu("flood", h.p.pid)
    h.close_stdin()
    out, err, rc = h.finish()
    if rc != 0 or out != b"done\n" or not_ours(err) or ours(err):
        fail("flood: host rc %d, stdout %r, stderr %r" % (rc, out, err[:500]))


def case_slowloris(a, work):
    h, port = served_idle_host(a, work, "slowloris")
    if h is None:
        return
    loris = socket.create_connection(("127.0.0.1", port), timeout=5)
    request = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    t0 = time.monotonic()
    closed_after = None
    worst = 0.0
    i = 0
    while time.monotonic() - t0 < 6 and closed_after is None:
        try:
            loris.send(request[i:i + 2])
            i = (i + 2) % 24  # never the whole head
        except OSError:
            closed_after = time.monotonic() - t0
            break
        status, body, took = scrape(port)
        worst = max(worst, took)
        if status != 200:
            fail("slowloris: a scrape got status %d after %.3f s" % (status, took))
        # 2 bytes a second, and see whether the endpoint closed us meanwhile.
        loris.settimeout(max(0.0, 1.0 - took))
        try:
            if loris.recv(1) == b"":
                closed_after = time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            closed_after = time.monotonic() - t0
    print("slowloris: worst scrape %.4f s; the slow connection was closed after %s s" %
          (worst, "%.1f" % closed_after if closed_after is not None else "never"))
    if worst >= 1.0:
        fail("slowloris: a scrape took %.3f s" % worst)
    if closed_after is None:
        fail("slowloris: the slow connection was still open after 6 s (deadline 2 s)")
    loris.close()
    h.close_stdin()
    out, err, rc = h.finish()
    if rc != 0 or out != b"done\n" or err:
        fail("slowloris: host rc %d, stdout %r, stderr %r" % (rc, out, err[:500]))


def case_wildcard(a, work):
    port = free_port()
    h = Host([a.probes, "idle"], work, shim=a.shim,
             env={"FRAGSCOPE_METRICS_ADDR": "0.0.0.0:%d" % port, "FRAGSCOPE_SUMMARY": "0"})
    served = wait_served(port, h)  # scraped on 127.0.0.1 only
    h.close_stdin()
    out, err, rc = h.finish()
    if not served:
        fail("wildcard: not served on 127.0.0.1:%d" % port)
    lines = ours(err)
    print("wildcard: fragscope's lines: %r" % lines)
    if len(lines) != 1 or "0.0.0.0:%d" % port not in lines[0] or "not a loopback" not in lines[0]:
        fail("wildcard: expected one warning about the non-loopback address, got %r" % lines)
    if rc != 0 or out != b"done\n":
        fail("wildcard: host rc %d, stdout %r" % (rc, out))


PARENT = r"""
import os, subprocess, sys, time
port, nchild = int(sys.argv[1]), int(sys.argv[2])
child = ("import time\n"
         "end = time.monotonic() + 0.8\n"
         "keep = []\n"
         "while time.monotonic() < end:\n"
         "    keep = [bytes(2000 + i) for i in range(50)]\n"
         "    time.sleep(0.005)\n"
         # One write(2) of the whole line: twenty children share the parent's stdout, and
         # print() under PYTHONUNBUFFERED=1 writes the text and its newline apart, so two
         # children's lines could interleave (a CI run saw "child donechild done\n\n").
         "import os; os.write(1, b'child done\\n')\n")
end = time.monotonic() + 0.3  # calls malloc, so that the shim's reporter starts
while time.monotonic() < end:
    keep = [bytes(2000 + i) for i in range(50)]
    time.sleep(0.005)
sys.stdin.readline()  # the driver says the parent's endpoint is up
procs = []
for i in range(nchild):
    argv = [sys.executable, "-c", child]
    if i % 2:  # a grandchild, through a shell
        argv = ["sh", "-c", 'exec "$0" -c "$1"; exit 1', sys.executable, child]
    procs.append(subprocess.Popen(argv))
rcs = [p.wait() for p in procs]
print("children", rcs.count(0), "of", nchild, flush=True)
"""


def case_exec_children(a, work):
    port = free_port()
    script = os.path.join(work, "parent.py")
    with open(script, "w") as f:
        f.write(PARENT)
    h = Host([a.python, script, str(port), "20"], work, shim=a.shim,
             env={"FRAGSCOPE_METRICS_ADDR": str(port), "FRAGSCOPE_SUMMARY": "0"})
    if not wait_served(port, h):
        fail("exec_children: the parent never served its port")
    status, body, _ = scrape(port)
    served_pid = re.search(rb'pid="(\d+)"', body)
    h.send(b"go\n")
    # While the children run, the port stays the parent's.
    during = []
    end = time.monotonic() + 3
    while time.monotonic() < end and h.p.poll() is None:
        st, b2, _ = scrape(port)
        m = re.search(rb'pid="(\d+)"', b2)
        during.append(int(m.group(1)) if (st == 200 and m) else -1)
        time.sleep(0.1)
    out, err, rc = h.finish()
    lines = ours(err)
    inuse = [l for l in err.decode(errors="replace").splitlines() if "Address already in use" in l]
    print("exec_children: %s; %d fragscope lines, %d 'Address already in use'; pids serving during the run: %s" %
          (out.decode().strip().splitlines()[-1:], len(lines), len(inuse), sorted(set(during))))
    if out != b"child done\n" * 20 + b"children 20 of 20\n" or rc != 0:
        fail("exec_children: parent rc %d, stdout %r, stderr %r" % (rc, out, err[-500:]))
    if inuse or lines:
        fail("exec_children: fragscope said %r" % lines[:5])
    if served_pid is None or int(served_pid.group(1)) != h.p.pid:
        fail("exec_children: the port is not served by the parent (pid %d): %r" % (h.p.pid, served_pid))
    # A scrape that timed out (-1: the machine busy starting 20 interpreters) says nothing of who
    # serves the port: only the answers count, and there must be some.
    others = [p for p in during if p not in (h.p.pid, -1)]
    if others:
        fail("exec_children: during the run the port was served by %r, not the parent %d" % (others, h.p.pid))
    if h.p.pid not in during:
        fail("exec_children: no scrape during the run was answered (%d tried)" % len(during))


def case_conflict(a, work):
    foreign = socket.socket()
    foreign.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    foreign.bind(("127.0.0.1", 0))
    foreign.listen(4)
    port = foreign.getsockname()[1]
    h = Host([a.probes, "idle"], work, shim=a.shim,
             env={"FRAGSCOPE_METRICS_ADDR": str(port), "FRAGSCOPE_SUMMARY": "0"})
    # The warning comes after the first snapshot; wait for the snapshot file to say it.
    end = time.monotonic() + 10
    seen = False
    while time.monotonic() < end and not seen:
        for name in os.listdir(work):
            if name.startswith("f.") and "Address already in use" in open(os.path.join(work, name), errors="replace").read():
                seen = True
        time.sleep(0.05)
    h.close_stdin()
    out, err, rc = h.finish()
    foreign.close()
    lines = ours(err)
    print("conflict: fragscope's lines: %r" % lines)
    if len(lines) != 1 or "Address already in use" not in lines[0]:
        fail("conflict: expected one 'Address already in use' warning, got %r" % lines)


def case_daemon(a, work, hosttable):
    pre = ["--no-close-range"] if hosttable else []
    results = []
    for shim in (None, a.shim):
        hport, mport = free_port(), free_port()
        h = Host([a.probes] + pre + ["daemon", str(hport)], work, shim=shim,
                 env={"FRAGSCOPE_METRICS_ADDR": str(mport)})
        if shim and not wait_served(mport, h):
            fail("daemon: the endpoint never answered before the takeover")
        h.send(b"go\n")
        if h.readline() != "listening\n":
            fail("daemon: the host never listened")
        replies = []
        for _ in range(6):
            try:
                c = socket.create_connection(("127.0.0.1", hport), timeout=5)
                c.settimeout(5)
                data = b""
                while True:
                    chunk = c.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                c.close()
            except OSError as e:
                data = repr(e).encode()
            replies.append(data)
        if shim:
            bad = [r for r in replies if r != b"HOST-REPLY\n"]
            print("daemon%s: %d of 6 clients got the host's reply" % ("_hosttable" if hosttable else "", 6 - len(bad)))
            if bad:
                fail("daemon: the host's clients got %r" % bad)
            # Our endpoint: served (own table) or given up (host's table), never by accepting on
            # the host's socket. A scrape wakes the thread; then it must sleep.
            scrape(mport, timeout=1.0)
            assert_idle_cpu("daemon", h.p.pid)
        h.close_stdin()
        results.append(h.finish())
    same_as_plain("daemon", *results)


def case_forkreuse(a, work, hosttable):
    pre = ["--no-close-range"] if hosttable else []
    results = []
    for shim in (None, a.shim):
        mport = free_port()
        data = os.path.join(work, "reused-%s.dat" % ("shim" if shim else "plain"))
        h = Host([a.probes] + pre + ["forkreuse", data], work, shim=shim,
                 env={"FRAGSCOPE_METRICS_ADDR": str(mport)})
        if shim and not wait_served(mport, h):
            fail("forkreuse: the endpoint never answered before the takeover")
        h.send(b"go\n")
        results.append(h.finish())
        print("forkreuse%s (%s): %s" % ("_hosttable" if hosttable else "", "shim" if shim else "plain",
                                         results[-1][0].decode().strip()))
        if results[-1][2] != 0:
            fail("forkreuse: %s run failed: %r %r" % ("shim" if shim else "plain", results[-1][0], results[-1][1][-300:]))
    same_as_plain("forkreuse", *results)


def case_stderr(a, work, hosttable):
    pre = ["--no-close-range"] if hosttable else []
    contents = []
    for shim in (None, a.shim):
        data = os.path.join(work, "stderr-%s.dat" % ("shim" if shim else "plain"))
        # A warning is due after the swap (the endpoint's port is taken), and the exit summary.
        foreign = socket.socket()
        foreign.bind(("127.0.0.1", 0))
        foreign.listen(1)
        h = Host([a.probes] + pre + ["stderr", data], work, shim=shim,
                 env={"FRAGSCOPE_METRICS_ADDR": str(foreign.getsockname()[1])}, stdin=False)
        out, err, rc = h.finish()
        foreign.close()
        with open(data, "rb") as f:
            contents.append((f.read(), out, rc))
    print("stderr%s: the data file under the shim: %r" % ("_hosttable" if hosttable else "", contents[1][0]))
    if contents[0] != contents[1] or contents[1][0] != b"HOST-DATA 1\nHOST-DATA 2\n":
        fail("stderr: the host's data file (plain, shim): %r" % [c[0] for c in contents])
    # The snapshots prove the warning was due: it is in the file, not on fd 2.
    said = any("Address already in use" in open(os.path.join(work, n), errors="replace").read()
               for n in os.listdir(work) if n.startswith("f."))
    if not said:
        fail("stderr: no warning was due (the snapshot does not name the taken port)")


def case_escape(a, work):
    bad = "\x1b]0;owned\x07\x1b[2J\x9b31m12\x7f"
    results = []
    for shim in (None, a.shim):
        h = Host([a.probes, "idle"], work, shim=shim, env={"FRAGSCOPE_INTERVAL_MS": bad, "FRAGSCOPE_SUMMARY": "0"})
        h.close_stdin()
        results.append(h.finish())
    same_as_plain("escape", *results)
    err = results[1][1]
    print("escape: stderr under the shim: %r" % err)
    controls = [c for c in err if c < 0x20 and c != 0x0a or c == 0x7f]
    if controls:
        fail("escape: raw control bytes on stderr: %r" % bytes(controls))
    text = err.decode(errors="replace")
    if "\\x1b]0;owned\\x07\\x1b[2J\\xc2\\x9b31m12\\x7f" not in text or len(ours(err)) != 1:
        fail("escape: the warning does not show the value escaped: %r" % text)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shim", required=True)
    ap.add_argument("--probes", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--case", required=True)
    a = ap.parse_args()
    cases = {
        "flood": case_flood, "slowloris": case_slowloris, "wildcard": case_wildcard,
        "exec_children": case_exec_children, "conflict": case_conflict,
        "daemon": lambda a, w: case_daemon(a, w, False), "daemon_hosttable": lambda a, w: case_daemon(a, w, True),
        "forkreuse": lambda a, w: case_forkreuse(a, w, False),
        "forkreuse_hosttable": lambda a, w: case_forkreuse(a, w, True),
        "stderr": lambda a, w: case_stderr(a, w, False), "stderr_hosttable": lambda a, w: case_stderr(a, w, True),
        "escape": case_escape,
    }
    with tempfile.TemporaryDirectory(prefix="fragscope-faults-") as work:
        cases[a.case](a, work)
    if FAILS:
        sys.exit(1)
    print("PASS")


if __name__ == "__main__":
    main()
