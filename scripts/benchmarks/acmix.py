"""Benchmark cases: acmix (being written)."""
CASES = []
