# CPython's textbook case: a large dict of mixed-size values, then a random 90% deleted, and the
# process stays up. Run with PYTHONMALLOC=malloc so that every object is a glibc block. Prints
# its own resident set at the steady point ("steady_rss=BYTES", from /proc/self/statm).
import os
import random
import time

random.seed(7)
N = 200_000
d = {}
for i in range(N):
    d[i] = b"x" * random.randint(8, 1000)
keys = list(d)
random.shuffle(keys)
for k in keys[: N * 9 // 10]:
    del d[k]
del keys
time.sleep(2.5)
with open("/proc/self/statm") as f:
    resident = int(f.read().split()[1])
print(f"steady_rss={resident * os.sysconf('SC_PAGESIZE')}", flush=True)
