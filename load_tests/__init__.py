"""Benchmarks and load runs."""
