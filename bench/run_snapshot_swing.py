#!/usr/bin/env python3
"""run_snapshot_swing.py: how far a snapshot swings the measured process's resident memory.

Runs bench/wl_hold (a still heap of many small blocks) plain and under the shim in full mode,
with the snapshot scratch bounded (the default: 3% of RSS) and unbounded
(FRAGSCOPE_SNAPSHOT_SCRATCH=2^40: one batch of every live block, as before the bound), taking
turns ROUNDS times. While the program holds its heap (the periodic snapshots, every 500 ms; not
the exit), its VmRSS is read every 2 ms from /proc/PID/status; the swing is the highest less the
lowest reading, given as a share of the plain program's RSS. Also prints the snapshot's own overhead figures and the run's CPU time.

Usage:   bench/run_snapshot_swing.py LIB WL_HOLD [ROUNDS] [-- WL_HOLD ARGS...]
  LIB      build/shim/libfragscope.so
  WL_HOLD  build/bench/wl_hold
  ROUNDS   rounds of plain, bounded, unbounded (default 3)
  (WL_HOLD may be a redis-server instead: its ARGS are the keys DEBUG POPULATE makes, default
  2000000, and its RSS is read for 5 s after them.)
Example: bench/run_snapshot_swing.py build/shim/libfragscope.so build/bench/wl_hold 3 -- --blocks 5000000
         bench/run_snapshot_swing.py build/shim/libfragscope.so /usr/bin/redis-server 1 -- 2000000
"""
import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def vm_rss(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def snapshot_env(mode, lib, tmp):
    env = dict(os.environ)
    if mode != "plain":
        env.update(LD_PRELOAD=lib, FRAGSCOPE_SUMMARY="0", FRAGSCOPE_INTERVAL_MS="500",
                   FRAGSCOPE_OUTPUT=os.path.join(tmp, f"{mode}.%p.jsonl"))
        if mode == "unbounded":
            env["FRAGSCOPE_SNAPSHOT_SCRATCH"] = str(1 << 40)
    return env


def run_redis(mode, lib, server, args, tmp):
    """redis-server (WL_HOLD given as a redis-server) after DEBUG POPULATE KEYS (args[0], default
    2000000): its VmRSS read for 5 s, then it is shut down."""
    keys = args[0] if args else "2000000"
    with socket.socket() as so:
        so.bind(("127.0.0.1", 0))
        port = str(so.getsockname()[1])
    cli = shutil.which("redis-cli")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen([server, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                          "--enable-debug-command", "yes", "--dir", tmp], env=snapshot_env(mode, lib, tmp),
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if subprocess.run([cli, "-p", port, "ping"], capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    subprocess.run([cli, "-p", port, "debug", "populate", keys], capture_output=True, check=True)
    time.sleep(1)
    readings = []
    end = time.time() + 5
    while time.time() < end:
        r = vm_rss(p.pid)
        if r is not None:
            readings.append(r)
        time.sleep(0.002)
    subprocess.run([cli, "-p", port, "shutdown", "nosave"], capture_output=True)
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return min(readings), max(readings), cpu, last_overhead(mode, tmp)


def last_overhead(mode, tmp):
    """The overhead section of the last periodic snapshot of the run's file (removed), or {}."""
    snap = {}
    if mode != "plain":
        for name in os.listdir(tmp):
            if name.startswith(mode + ".") and name.endswith(".jsonl"):
                path = os.path.join(tmp, name)
                with open(path) as f:
                    lines = [json.loads(l) for l in f if l.strip()]
                os.unlink(path)
                periodic = [l for l in lines if not l.get("final")]
                if periodic:
                    snap = periodic[-1]["overhead"]
    return snap


def run(mode, lib, wl, args, tmp):
    if os.path.basename(wl) == "redis-server":
        return run_redis(mode, lib, wl, args, tmp)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    p = subprocess.Popen([wl, *args], env=snapshot_env(mode, lib, tmp), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in p.stderr:
        if "holding" in line:
            break
    done = threading.Event()

    def watch():  # wl_hold says "done" when the hold ends: the exit's unmapping is not a snapshot
        for l in p.stderr:
            if "done" in l:
                done.set()
        done.set()

    threading.Thread(target=watch, daemon=True).start()
    readings = []
    while not done.is_set():
        r = vm_rss(p.pid)
        if r is not None and not done.is_set():
            readings.append(r)
        time.sleep(0.002)
    p.wait()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return min(readings), max(readings), cpu, last_overhead(mode, tmp)


def main():
    argv = sys.argv[1:]
    extra = []
    if "--" in argv:
        extra = argv[argv.index("--") + 1:]
        argv = argv[:argv.index("--")]
    if len(argv) < 2 or argv[0] in ("-h", "--help"):
        print(__doc__, file=sys.stderr)
        return 2
    lib, wl = os.path.abspath(argv[0]), os.path.abspath(argv[1])
    rounds = int(argv[2]) if len(argv) > 2 else 3
    args = extra or ["--blocks", "5000000", "--seconds", "5"]
    results = {m: [] for m in ("plain", "bounded", "unbounded")}
    with tempfile.TemporaryDirectory(prefix="fragscope-swing.") as tmp:
        for _ in range(rounds):
            for mode in results:
                results[mode].append(run(mode, lib, wl, args, tmp))
    plain_rss = statistics.median(r[0] for r in results["plain"])
    print(f"{os.path.basename(wl)} {' '.join(args)}; plain RSS {plain_rss / 2**20:.1f} MiB (median of {rounds})")
    print(f"{'mode':10} {'low MiB':>9} {'high MiB':>9} {'swing MiB':>10} {'swing/plain':>12} {'CPU s':>7}"
          f" {'scratch MiB':>12} {'batches':>8}")
    for mode, rs in results.items():
        for lo, hi, cpu, o in rs:
            print(f"{mode:10} {lo / 2**20:9.1f} {hi / 2**20:9.1f} {(hi - lo) / 2**20:10.1f} {(hi - lo) / plain_rss:12.1%}"
                  f" {cpu:7.2f} {o.get('snapshot_scratch_bytes', 0) / 2**20:12.1f} {o.get('layout_batches', '-'):>8}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
