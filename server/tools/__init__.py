"""Benchmarks and other scripts for developers; not part of the serving path."""
