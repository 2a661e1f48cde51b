"""Benchmarks (`make bench`): each figure beside its floor, written to docs/performance.md."""
