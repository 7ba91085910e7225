#!/usr/bin/env python3
"""What an fsync of the audit log costs on this disk: 4 KiB written and
fdatasynced 2,000 times, once appending to a growing file and once into a
file filled with zeros beforehand (what the audit log's segments are).
Usage: benches/fsync.py [folder on the disk to measure] (default bench-data)."""
import os, sys, time

def run(path, zeroed, n=2000, size=4096):
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC)
    if zeroed:
        os.write(fd, b"\0" * (n * size))
        os.fsync(fd)
        os.lseek(fd, 0, 0)
    buf, ts = b"x" * size, []
    for _ in range(n):
        t = time.perf_counter()
        os.write(fd, buf)
        os.fdatasync(fd)
        ts.append(time.perf_counter() - t)
    os.close(fd)
    os.unlink(path)
    ts.sort()
    q = lambda f: ts[int(len(ts) * f)] * 1e3
    return f"p50 {q(0.5):.3f} ms, p90 {q(0.9):.3f} ms, p99 {q(0.99):.3f} ms"

folder = sys.argv[1] if len(sys.argv) > 1 else "bench-data"
os.makedirs(folder, exist_ok=True)
path = os.path.join(folder, "fsync.test")
print("appending, the file growing:", run(path, False))
print("into zeros written before:  ", run(path, True))
