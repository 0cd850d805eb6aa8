# e2e.own_threads, Python side: run with PYTHONMALLOC=malloc, allocates through malloc for about
# 2.5 s, then prints glibc's arena count (<heap nr=...> elements of malloc_info) and the number
# of fragscope's threads in the process.
import ctypes
import os
import sys
import time

libc = ctypes.CDLL(None)
libc.fmemopen.restype = ctypes.c_void_p
libc.fmemopen.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.ftell.restype = ctypes.c_long
libc.ftell.argtypes = [ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]


def own_threads():
    n = 0
    for tid in os.listdir("/proc/self/task"):
        with open(f"/proc/self/task/{tid}/comm", "rb") as f:
            if f.read() in (b"fragscope\n", b"fragscope-http\n"):
                n += 1
    return n


def count_arenas():
    size = 1 << 20
    buf = ctypes.create_string_buffer(size)
    f = libc.fmemopen(buf, size - 1, b"w")
    libc.malloc_info(0, f)
    length = libc.ftell(f)
    libc.fclose(f)
    return buf.raw[:length].count(b"<heap nr=")


seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 2.5
end = time.monotonic() + seconds
keep = []
while time.monotonic() < end:
    for i in range(1000):
        keep.append(bytes(16 + (i * 37) % 2000))
        if len(keep) > 4000:
            del keep[: len(keep) // 2]
del keep
threads = own_threads()
print(f"arenas={count_arenas()} own_threads={threads} calls=yes")
