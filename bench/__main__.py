"""`python -m bench <benchmark> [options]`: one subcommand per benchmark.

A benchmark module offers `add_arguments(parser)` and `run(args) -> exit code` (0 when every target passed).
Add one by naming it in BENCHMARKS; its module is imported only when it is run.
"""

from __future__ import annotations

import argparse
import importlib
import sys

BENCHMARKS: dict[str, str] = {
    "billing": "invoice run for 10k allocations (vs one INSERT ... SELECT), PDFs for 500 invoices",
    "network": "serving items by bbox (vs raw SQL and tipg), import of 10k segments, service memory",
    "tiles": "planner map first meaningful paint in Chromium; vector tiles vs raw ST_AsMVT and tipg",
    "compliance": "full rule run over 200k aerial spans, duct_available vs the plain ST_DWithin join, 500-obs re-eval",
    "leasing": "route search vs pgRouting (live and precomputed), accepted allocations/s vs raw inserts",
    "capacity": "CPU per request of each kind, in the service and in PostgreSQL: requests/s per core (issue 18)",
    "notify": "events delivered to a local webhook receiver per second, commit-to-delivery p50/p99, lost/repeated",
    "load": "mixed workload (maps, availability, capacity requests, invoices), 32 clients for 60 s: p50/p99, errors",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Print the figures of a benchmark issue.")
    subparsers = parser.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    for name, summary in BENCHMARKS.items():
        sub = subparsers.add_parser(name, help=summary, description=summary)
        importlib.import_module(f"bench.{name}").add_arguments(sub)
    args = parser.parse_args(argv)
    return importlib.import_module(f"bench.{args.benchmark}").run(args)


if __name__ == "__main__":
    sys.exit(main())
