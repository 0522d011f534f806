"""Benchmarks (not timed tests): `make bench` or `.venv/bin/python -m bench`."""
