"""Write tests/durations.json from a run's JUnit reports: seconds per test file and pass, which the
suite's conftest uses to hand the longest files out first (docs/testing.md). Run it after a full
`make test` when files were added or grew: ``python3 .ci/durations.py reports``."""

from __future__ import annotations

import json
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_file(classname: str) -> str:
    """``tests.e2e.test_api_keys.TestIsolation`` -> ``tests/e2e/test_api_keys.py``."""
    parts = classname.split(".")
    end = next(i for i, part in enumerate(parts) if part.startswith("test_"))
    return "/".join(parts[: end + 1]) + ".py"


def main(reports: Path) -> None:
    table: dict[str, dict[str, float]] = {}
    for name in ("embedded", "distributed"):
        seconds: dict[str, float] = defaultdict(float)
        for case in ET.parse(reports / f"{name}.xml").iter("testcase"):  # noqa: S314 (our own)
            seconds[test_file(case.get("classname", ""))] += float(case.get("time", 0))
        table[name] = {f: round(s, 1) for f, s in sorted(seconds.items(), key=lambda kv: -kv[1])}
    (ROOT / "tests" / "durations.json").write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "reports"))
