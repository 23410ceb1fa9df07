"""Benchmarks that print figures and check them against their targets (`make bench`, `make soak`).

Each is a module run from the repository root, so it imports the project as any of its code does:

    .venv/bin/python -m bench.local_e2e [--json-out PATH]

Shared helpers are public names of a bench module (bench/local_e2e.py's company pages and result
reading serve bench/load_faults.py too), imported as `from bench.local_e2e import ...`.
"""
