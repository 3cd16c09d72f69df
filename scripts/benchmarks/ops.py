"""Benchmark cases: ops (being written)."""
CASES = []
