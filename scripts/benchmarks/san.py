"""Benchmark cases: san (being written)."""
CASES = []
