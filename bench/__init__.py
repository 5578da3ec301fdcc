"""Benchmarks: `python -m bench` runs them all (see bench/__main__.py); each module also runs alone."""
