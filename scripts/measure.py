#!/usr/bin/env python3
"""Runs one command and prints its wall time and peak memory as one JSON line.

usage: measure.py [--runs N] LABEL CMD [ARG...]   (stdout of CMD is discarded)

With --runs N the command runs N times and the fastest run is reported (wall
time on a shared virtual machine varies by tens of percent from run to run; the
fastest run is the one least disturbed), with the highest peak memory of all.

Peak memory is the command's maximum resident set size, from GNU time
(/usr/bin/time) when it is installed. Without it, from getrusage: that figure is
never below this python process's own size (~10 MB, since the child was forked
from it before its exec), so small peaks read too high.
"""
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

args = sys.argv[1:]
runs = 1
if args[:1] == ["--runs"]:
    runs, args = max(1, int(args[1])), args[2:]
label, cmd = args[0], args[1:]
best = None
peak_kb = 0
GNU_TIME = "/usr/bin/time" if os.access("/usr/bin/time", os.X_OK) else None
TIME_OUT = tempfile.mktemp(prefix="measure-time.")
for _ in range(runs):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    timed = cmd
    if GNU_TIME:
        # GNU time is small: its child's peak is the command's own.
        timed = [GNU_TIME, "-f", "%M", "-o", TIME_OUT, "--"] + cmd
    proc = subprocess.Popen(timed, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, stderr = proc.communicate()
    wall = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if GNU_TIME:
        with open(TIME_OUT) as f:
            peak_kb = max(peak_kb, int(f.read().split()[-1]))
    else:
        # ru_maxrss of RUSAGE_CHILDREN is the largest of all children so far.
        peak_kb = max(peak_kb, after.ru_maxrss)
    if best is None or wall < best["wall_s"]:
        best = {"wall_s": round(wall, 3), "cpu_s": round(cpu, 3), "exit": proc.returncode,
                "stderr": stderr.decode(errors="replace")[-300:]}
if GNU_TIME:
    os.unlink(TIME_OUT)
# CPU time as well: on a shared machine wall time depends on the neighbours.
print(json.dumps({"label": label, "wall_s": best["wall_s"], "cpu_s": best["cpu_s"], "runs": runs,
                  "peak_rss_mb": round(peak_kb / 1024, 1), "exit": best["exit"], "stderr": best["stderr"]}))
