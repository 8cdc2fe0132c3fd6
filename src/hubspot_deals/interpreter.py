"""Garbage-collector settings for the long-running processes: ``serve``, ``worker``, ``sandbox``
(its portal built once) and the test processes.

One event loop answers every request while threads do CPU work beside it (an export encodes its
batches in a thread). Measured on the 2-core machine while a Parquet export streamed, status
requests waited on two things the interpreter does, not on the service's own code
(docs/benchmarks.md, ``exports``):

- **Full garbage collections** of 100 to 300 ms, one every second or so: each batch of rows
  builds some 50,000 short-lived containers, enough to promote them and trigger a full pass over
  every object the process holds (most of them modules, classes and functions that live forever).
  ``gc.freeze`` moves what exists after start-up out of the collector's sight, and a larger
  first-generation threshold lets a batch's objects die by reference counting before a
  collection promotes them.
- **The GIL's 5 ms switch interval** costs the rest. A 0.5 ms interval was tried: it slowed
  requests under the load test's contention (p50 1.3 s), so Python's default stays.
"""

from __future__ import annotations

import gc

#: Objects allocated (less freed) before the youngest generation is collected: Python's 700 is
#: tuned for small scripts, not for batches of thousands of rows.
GEN0_THRESHOLD = 50_000


def tune_for_service() -> None:
    """Call once the process has imported what it runs, before it serves."""
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, gen1, gen2)
