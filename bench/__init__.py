"""Benchmarks that print an issue's figures: `python -m bench <name>` (see bench/README.md)."""
