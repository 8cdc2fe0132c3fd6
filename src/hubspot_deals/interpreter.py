"""Interpreter settings for the long-running processes: garbage-collector settings for ``serve``,
``worker``, ``sandbox`` (its portal built once) and the test processes, and a shorter GIL switch
interval for ``serve`` alone.

One event loop answers every request while threads do CPU work beside it (an export decodes and
encodes its batches in a thread). Measured on the 2-core machine while a Parquet export streamed,
status requests waited on two things the interpreter does, not on the service's own code
(docs/benchmarks.md, ``exports``):

- **Full garbage collections** of 100 to 300 ms, one every second or so: each batch of rows
  builds some 50,000 short-lived containers, enough to promote them and trigger a full pass over
  every object the process holds (most of them modules, classes and functions that live forever).
  ``gc.freeze`` moves what exists after start-up out of the collector's sight, and a larger
  first-generation threshold lets a batch's objects die by reference counting before a
  collection promotes them.
- **The GIL's switch interval.** A request waits for the GIL at each of its hand-offs (a socket
  read, each database call through aiosqlite's thread) while the encoding thread holds it, up to
  the interval each time: Python's 5 ms made a status request wait some 70 ms at p90. The API
  process switches every millisecond instead. Only it: the worker serves no requests, and 0.5 ms
  in every process (the sandbox's and the tests' too) slowed the load test's client.
"""

from __future__ import annotations

import gc
import sys

#: Objects allocated (less freed) before the youngest generation is collected: Python's 700 is
#: tuned for small scripts, not for batches of thousands of rows.
GEN0_THRESHOLD = 50_000
#: Seconds a thread may hold the GIL while another waits, in the API process (Python's: 0.005).
REQUEST_SWITCH_INTERVAL = 0.001


def tune_for_service(*, serves_requests: bool = False) -> None:
    """Call once the process has imported what it runs, before it serves; ``serves_requests``
    for the API process, whose event loop shares the GIL with encoding and scan threads."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
    if serves_requests:
        sys.setswitchinterval(REQUEST_SWITCH_INTERVAL)
