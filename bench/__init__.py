"""Benchmarks that print figures (never pass/fail): ``make bench`` or ``python -m bench``."""
