"""Read-path benchmark: inbox list and customer timeline over HTTP and raw SQL.

Run `python -m bench.read_paths --help`; bench/README.md explains the figures.
"""
