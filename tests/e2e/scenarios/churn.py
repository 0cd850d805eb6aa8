"""fragscope e2e host: an allocation-heavy Python workload.

Builds and drops generations of dicts, lists, strings and bytes while keeping a thin layer of
long-lived survivors (the interleaving that fragments a heap), grows buffers past the mmap
threshold, and makes reference cycles for the garbage collector. Prints digests that depend only
on the seed, never on addresses, hash randomisation or timing, so a run with libfragscope.so
preloaded must print exactly what a plain run prints.

usage: churn.py [SCALE]   (SCALE generations, default 12)
"""
import gc
import json
import random
import sys
import zlib


class Node:
    __slots__ = ("value", "peer", "children")

    def __init__(self, value):
        self.value = value
        self.peer = None
        self.children = []


def records(rng, count):
    return [
        {
            "id": i,
            "name": "n%08x" % rng.getrandbits(32),
            "tags": [str(rng.random()) for _ in range(i % 5)],
            "blob": rng.randbytes(i % 200),
        }
        for i in range(count)
    ]


def cycles(rng, count):
    """Makes count two-node cycles with children; returns the sum of their values."""
    total = 0
    for _ in range(count):
        a, b = Node(rng.getrandbits(16)), Node(rng.getrandbits(16))
        a.peer, b.peer = b, a
        a.children = [Node(j) for j in range(rng.randrange(8))]
        total += a.value + b.value + len(a.children)
    return total


def main():
    generations = int(sys.argv[1]) if len(sys.argv) > 1 else 12
    rng = random.Random(1)
    crc = 0
    survivors = []
    for _ in range(generations):
        batch = records(rng, 20000)
        survivors.extend(batch[::97])  # long-lived blocks among short-lived ones
        encoded = json.dumps([{k: v for k, v in r.items() if k != "blob"} for r in batch])
        crc = zlib.crc32(encoded.encode(), crc)
        crc = zlib.crc32(b"".join(r["blob"] for r in batch), crc)
        words = encoded.replace('"', " ").split()
        counts = {}
        for word in words:
            counts[word] = counts.get(word, 0) + 1
        crc = zlib.crc32(repr(sorted(counts.items())[:1000]).encode(), crc)
        del batch, encoded, words, counts

    buffer = bytearray()  # grows by realloc, far past the 128 KiB mmap threshold
    for i in range(4000):
        buffer += rng.randbytes(1 + i % 2000)
    crc = zlib.crc32(buffer, crc)

    gc.disable()
    cycle_total = sum(cycles(rng, 5000) for _ in range(generations))
    unreachable = gc.collect()
    gc.enable()

    unique = set()
    for r in survivors:
        unique.add((r["id"] % 1000, r["name"][:4]))
    print("generations", generations)
    print("survivors", len(survivors), "unique", len(unique))
    print("buffer", len(buffer))
    print("cycles", cycle_total, "collected", unreachable > 0)
    print("crc32 %08x" % crc)


if __name__ == "__main__":
    main()
