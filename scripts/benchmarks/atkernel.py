"""Benchmark cases: atkernel (being written)."""
CASES = []
