"""Run benchmarks and print their figures: ``python -m bench [name ...]`` (all but ``profile`` by default).

- ``service``: a full scan through the API at 250 ms and 150 per 10 s, beside the official SDK's loop
- ``scale``: scans of 10,000, 100,000 and 1,000,000 deals; the results API on the largest
- ``exports``: a 100,000-deal scan exported as CSV, NDJSON and Parquet: speed and memory
- ``incremental``: an incremental scan after 1% of 100,000 deals changed, next to a full scan
- ``client``: the HubSpot client's throughput against the burst limit
- ``properties``: 9, 500 and every property (over 1,000) of a wide portal: what each costs
- ``sandbox``: a million-deal sandbox's start time and memory
- ``cost``: CPU per deal and per results page, and the realistic 100,000-deal scan, beside the
  baseline (the code before issue 22) measured in the same run
- ``profile``: where a 100,000-deal scan's CPU goes (py-spy)
- ``load``: 20 readers a second for 3 minutes a mode while scans re-run: latency, errors, memory
"""

from __future__ import annotations

import sys

from bench import (
    client_throughput,
    cost,
    exports,
    incremental,
    load,
    profile,
    properties,
    sandbox_scale,
    service_scale,
    service_scan,
)

BENCHMARKS = {
    "service": service_scan.run,
    "scale": service_scale.run,
    "exports": exports.run,
    "incremental": incremental.run,
    "client": client_throughput.run,
    "properties": properties.run,
    "sandbox": sandbox_scale.run,
    "cost": cost.run,
    "load": load.run,
    "profile": profile.run,
}
#: What ``make bench`` runs: every benchmark but the profile (a diagnosis, not a figure).
DEFAULT = [name for name in BENCHMARKS if name != "profile"]


def main(names: list[str]) -> None:
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark(s) {unknown}; choose among {list(BENCHMARKS)}")
    for name in names or DEFAULT:
        BENCHMARKS[name]()
        print(flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
