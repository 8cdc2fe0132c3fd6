"""Run every benchmark and print its figures: ``python -m bench [name ...]``."""

from __future__ import annotations

import sys

from bench import client_throughput, sandbox_scale

BENCHMARKS = {"sandbox": sandbox_scale.run, "client": client_throughput.run}


def main(names: list[str]) -> None:
    for name in names or list(BENCHMARKS):
        BENCHMARKS[name]()
        print()


if __name__ == "__main__":
    main(sys.argv[1:])
