#!/usr/bin/env python3
"""Runs one command and prints its wall time and peak memory as one JSON line.

usage: measure.py LABEL CMD [ARG...]   (stdout of CMD is discarded)

Peak memory is the child's maximum resident set size from getrusage, which is
what `/usr/bin/time -v` reports; running each measurement in a fresh python
process keeps it the figure of that one command.
"""
import json
import resource
import subprocess
import sys
import time

label, cmd = sys.argv[1], sys.argv[2:]
start = time.monotonic()
proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
wall = time.monotonic() - start
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
rss_kb = usage.ru_maxrss
# CPU time as well: on a shared machine wall time depends on the neighbours.
print(json.dumps({"label": label, "wall_s": round(wall, 3), "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                  "peak_rss_mb": round(rss_kb / 1024, 1),
                  "exit": proc.returncode, "stderr": proc.stderr.decode(errors="replace")[-300:]}))
