"""Benchmark cases: kaconv (being written)."""
CASES = []
