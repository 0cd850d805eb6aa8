#!/usr/bin/env python3
"""fragscope report --pprof, read by Debian's own `go tool pprof`.

For the example service and for a real program nobody here wrote (python3): the profile of the
final snapshot and of the first one are written; `go tool pprof -top` names as top function by
live bytes the one the text report names first among its call sites; `-raw`'s samples add up to
the snapshot's call-site estimates (listed sites plus the rest) within rounding, carry the five
sample types, and its mappings carry the modules' GNU build IDs as readelf reads them from the
files; `-diff_base` between the first and the last snapshot runs. Bad uses exit 2 with a message.

Usage: pprof_test.py FRAGSCOPE FRAGMENTING_SERVICE
"""
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

cli, service = sys.argv[1], sys.argv[2]
go = shutil.which("go")
if not go:
    print("FAIL: go is not installed (scripts/install-deps.sh --test installs golang-go)")
    sys.exit(1)
work = tempfile.mkdtemp()
env = dict(os.environ, HOME=work, PPROF_TMPDIR=work, GOCACHE=os.path.join(work, "gocache"))


def fail(msg):
    print("FAIL:", msg)
    sys.exit(1)


def run(args, **kw):
    return subprocess.run(args, capture_output=True, text=True, env=env, timeout=300, **kw)


def pprof(*args):
    r = run([go, "tool", "pprof"] + list(args))
    if r.returncode != 0:
        fail(f"go tool pprof {' '.join(args)}: rc {r.returncode}: {r.stderr[-800:]}")
    return r.stdout


def top_function(text):
    """The first function of `pprof -top`'s table."""
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.split() == ["flat", "flat%", "sum%", "cum", "cum%"]:
            return lines[i + 1].split(None, 5)[5].strip()
    fail("no table in pprof -top:\n" + text)


def text_report_top(path):
    """The function the text report names first among its call sites by live bytes."""
    r = run([cli, "report", path])
    lines = r.stdout.splitlines()
    for i, l in enumerate(lines):
        if l.strip().startswith("call sites by live bytes"):
            label = lines[i + 1].split(" frees  ", 1)[1].strip()
            m = re.match(r"^(.*) \(([^()]*:[0-9?]+)\)$", label)
            return m.group(1) if m else label
    fail("the text report names no call site:\n" + r.stdout[-2000:])


def plain(fn):
    """A function name as pprof shows it: without its parameter list."""
    fn = fn.replace("(anonymous namespace)", "")
    return re.sub(r"\(.*\)( const)?$", "", fn).strip()


def raw_samples(text):
    types, values = None, []
    lines = text.splitlines()
    for i, l in enumerate(lines):
        if l.strip() == "Samples:":
            types = [t.replace("[dflt]", "") for t in lines[i + 1].split()]
        elif types and l.startswith("Locations"):
            break
        elif types and re.match(r"^\s*(-?\d+\s+){4}-?\d+:", l):
            values.append([int(x) for x in l.split(":")[0].split()])
    return types, values


def build_id(path):
    r = run(["readelf", "-n", path])
    m = re.search(r"Build ID: ([0-9a-f]+)", r.stdout)
    return m.group(1) if m else None


def check(name, cmd, min_sites):
    out = os.path.join(work, name)
    os.makedirs(out)
    r = run([cli, "run", "--no-report", "-i", "200", "-o", os.path.join(out, "f.%p.jsonl"), "--"] + cmd)
    if r.returncode != 0:
        fail(f"{name}: fragscope run: rc {r.returncode}: {r.stderr[-500:]}")
    files = glob.glob(os.path.join(out, "f.*.jsonl"))
    # The process of the command itself: the file with the most snapshots.
    path = max(files, key=lambda f: sum(1 for _ in open(f)))
    snaps = [json.loads(l) for l in open(path)]
    final = next((s for s in snaps if s.get("final")), snaps[-1])
    late, early = os.path.join(out, "late.pb.gz"), os.path.join(out, "early.pb.gz")
    r = run([cli, "report", path, "--pprof", late])
    if r.returncode != 0 or "pprof profile of" not in r.stderr:
        fail(f"{name}: report --pprof: rc {r.returncode}: {r.stderr}")
    r = run([cli, "report", path, "--at", "1", "--pprof", early])
    if r.returncode != 0:
        fail(f"{name}: report --at 1 --pprof: rc {r.returncode}: {r.stderr}")
    with open(late, "rb") as f:
        if f.read(2) != b"\x1f\x8b":
            fail(f"{name}: the profile is not gzipped")

    # The top function by live bytes is the text report's first call site.
    want = plain(text_report_top(path))
    got = plain(top_function(pprof("-top", "-sample_index=inuse_space", late)))
    if got != want:
        fail(f"{name}: pprof's top function by live bytes is {got!r}, the text report names {want!r}")

    # Totals: the samples add up to the snapshot's estimates.
    raw = pprof("-raw", late)
    types, values = raw_samples(raw)
    if types != ["alloc_objects/count", "alloc_space/bytes", "inuse_objects/count", "inuse_space/bytes",
                 "pinned_space/bytes"]:
        fail(f"{name}: sample types {types}")
    sites = final["sites"]
    listed = [s for s in sites["list"] if s.get("frames")]
    if len(listed) < min_sites:
        fail(f"{name}: only {len(listed)} call sites in the snapshot")
    others = sites.get("others", {})
    for col, key in ((1, "alloc_bytes"), (3, "live_bytes"), (4, "pinned_bytes")):
        want_total = sum(s[key] for s in listed) + others.get(key, 0)
        got_total = sum(v[col] for v in values)
        if abs(got_total - want_total) > len(values) + 1:
            fail(f"{name}: {types[col]} totals {got_total} in pprof, {want_total} in the snapshot")
    if "Period: %d" % sites["sample_bytes"] not in raw:
        fail(f"{name}: the sampling period is not in the profile")
    # Every mapping carries its module's build ID, as the file on disk has it.
    checked = 0
    mappings = raw.split("Mappings", 1)[1].splitlines()[1:] if "Mappings" in raw else []
    for m in mappings:
        f = re.match(r"^\s*\d+: 0x[0-9a-f]+/0x[0-9a-f]+/0x[0-9a-f]+ (\S+)(?: ([0-9a-f]+))?", m)
        if not f:
            continue
        bid = build_id(f.group(1)) if os.path.exists(f.group(1)) else None
        if bid and f.group(2) != bid:
            fail(f"{name}: the mapping of {f.group(1)} has build ID {f.group(2)}, the file {bid}")
        checked += bid is not None
    if checked == 0:
        fail(f"{name}: no mapping with a build ID to check:\n" + "\n".join(mappings))
    # -diff_base between the first and the last snapshot runs.
    diff = pprof("-top", "-diff_base", early, late)
    if "flat  flat%" not in diff:
        fail(f"{name}: pprof -diff_base printed no table:\n{diff}")
    print(f"{name}: top {got!r}; {len(values)} samples, inuse {sum(v[3] for v in values)} B "
          f"(snapshot {sum(s['live_bytes'] for s in listed) + others.get('live_bytes', 0):.0f}); "
          f"{checked} build IDs; diff_base ok")
    return path


path = check("example", [service, "--seconds", "2", "--quiet"], 2)
check("python3", ["python3", "-c",
                  "import time\n"
                  "keep = [bytearray(3000 + i % 512) for i in range(60000)]\n"
                  "junk = [str(i) * 300 for i in range(20000)]\n"
                  "time.sleep(0.5)\n"
                  "del junk\n"
                  "time.sleep(0.6)\n"
                  "import os; os._exit(0)  # no teardown: the last snapshot holds the live data\n"], 1)

# Bad uses: --at out of range, --at without an export, an export to a directory.
for args, msg in ((["--at", "999", "--pprof", os.path.join(work, "x.pb.gz")], "holds"),
                  (["--at", "1"], "--at chooses"),
                  (["--at", "0", "--pprof", os.path.join(work, "x.pb.gz")], "not a snapshot number"),
                  (["--pprof", work], "")):
    r = run([cli, "report", path] + args)
    if r.returncode != 2 or msg not in r.stderr:
        fail(f"report {' '.join(args)}: rc {r.returncode}, stderr {r.stderr[-300:]!r}")
shutil.rmtree(work, ignore_errors=True)
print("PASS")
