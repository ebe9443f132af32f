"""Benchmarks: ilvb's SFU side by side with Janus (see docs/benchmarks.md)."""
