"""The 25 slowest tests of the last `make test` (both passes), from pytest's JUnit reports."""

import sys
import xml.etree.ElementTree as ET
from pathlib import Path

reports = sorted(Path(sys.argv[1] if len(sys.argv) > 1 else "reports").glob("*.xml"))
cases = [
    (float(case.get("time", 0)), report.stem, f"{case.get('classname')}::{case.get('name')}")
    for report in reports
    for case in ET.parse(report).getroot().iter("testcase")  # noqa: S314 - our own reports
]
print(f"\n25 slowest tests of {len(cases)} ({', '.join(r.stem for r in reports)}):")
for seconds, run, name in sorted(cases, reverse=True)[:25]:
    print(f"{seconds:8.1f} s  {run:12s} {name}")
