#!/usr/bin/env python3
"""Paired rounds: each round runs every configuration once, in an order rotated per round, and
each configuration's wall and CPU time (user + system of every thread, from the kernel's rusage of
the child) is divided by plain's of the same round; the medians (and quartiles) of those ratios
are printed. Pairing within a round cancels most of a noisy VM's drift between rounds.

Usage: bench/run_paired.py [--rounds N] [--configs "plain fwd full sampled"] [--under LIB] [--base BUILD]
                           [--build DIR] -- PROGRAM ARGS...
Configurations: plain (nothing preloaded), fwd (bench/hook_forward.c: malloc and free forwarded
to the next definition, the floor of any preloaded hook), off (the shim, FRAGSCOPE_ENABLE=0),
full (the shim), sampled (the shim, FRAGSCOPE_MODE=sampled). --under LIB preloads LIB after
each (and alone for plain): the allocator underneath. --base BUILD adds full-base and
sampled-base: BUILD's shim (say, of the commit before a change), measured in the same rounds.
"""
import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ap = argparse.ArgumentParser()
ap.add_argument("--rounds", type=int, default=7)
ap.add_argument("--configs", default="plain fwd full sampled")
ap.add_argument("--under", default="")
ap.add_argument("--build", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "build"))
ap.add_argument("--base", default="",
                help="another build directory (e.g. of the commit before a change): adds the "
                     "configurations full-base and sampled-base, its shim in the same rounds")
ap.add_argument("cmd", nargs=argparse.REMAINDER)
a = ap.parse_args()
cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
if not cmd:
    ap.error("no program given (after --)")
shim = os.path.abspath(os.path.join(a.build, "shim", "libfragscope.so"))
fwd = os.path.abspath(os.path.join(a.build, "bench", "libhook_forward.so"))
configs = {"plain": {}, "fwd": {"LD_PRELOAD": fwd}, "off": {"LD_PRELOAD": shim, "FRAGSCOPE_ENABLE": "0"},
           "full": {"LD_PRELOAD": shim}, "sampled": {"LD_PRELOAD": shim, "FRAGSCOPE_MODE": "sampled"}}
if a.base:
    base = os.path.abspath(os.path.join(a.base, "shim", "libfragscope.so"))
    if not os.path.exists(base):
        ap.error(f"--base: {base} does not exist")
    configs["full-base"] = {"LD_PRELOAD": base}
    configs["sampled-base"] = {"LD_PRELOAD": base, "FRAGSCOPE_MODE": "sampled"}
names = a.configs.split()
for n in names:
    if n not in configs:
        ap.error(f"unknown configuration {n!r}; known: {' '.join(configs)}")
if "plain" not in names:
    names.insert(0, "plain")
out = tempfile.mkdtemp(prefix="fragscope-paired.")
cpu = {n: [] for n in names}
wall = {n: [] for n in names}
for r in range(a.rounds):
    order = names[r % len(names):] + names[:r % len(names)]
    for n in order:
        env = dict(os.environ, FRAGSCOPE_SUMMARY="0", FRAGSCOPE_OUTPUT=os.path.join(out, "f.%p.jsonl"))
        env.update(configs[n])
        if a.under:
            env["LD_PRELOAD"] = env["LD_PRELOAD"] + ":" + a.under if "LD_PRELOAD" in env else a.under
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        w0 = time.monotonic()
        subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
        wall[n].append(time.monotonic() - w0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu[n].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
shutil.rmtree(out, ignore_errors=True)


def q(v):
    return statistics.quantiles(v, n=4) if len(v) > 1 else [v[0], v[0], v[0]]


print(f"{a.rounds} paired rounds of {' '.join(cmd)}" + (f", over {a.under}" if a.under else ""))
print(f"{'config':<8} {'wall s':>7} {'x plain':>8} {'(q1..q3)':>13} {'CPU s':>7} {'x plain':>8} {'(q1..q3)':>13}")
for n in names:
    wr = [x / y for x, y in zip(wall[n], wall["plain"])]
    cr = [x / y for x, y in zip(cpu[n], cpu["plain"])]
    print(f"{n:<8} {statistics.median(wall[n]):7.3f} {statistics.median(wr):8.2f} {q(wr)[0]:6.2f}..{q(wr)[2]:<5.2f} "
          f"{statistics.median(cpu[n]):7.3f} {statistics.median(cr):8.2f} {q(cr)[0]:6.2f}..{q(cr)[2]:<5.2f}")
