"""``mmbench bench NAME``: one subcommand per module of :mod:`mmbench.benchmarks`, with that
benchmark's own options; the result is printed as the last JSON line on stdout."""

from __future__ import annotations

import argparse
import inspect
from types import ModuleType
from typing import Any

from ..benchmarks import BENCHMARKS
from ..benchmarks.common import PARSER_OPTIONS
from .output import json_line


def run_benchmark(module: ModuleType, args: argparse.Namespace) -> None:
    """Call ``module.run`` with the options given on the command line (the others keep ``run``'s defaults)."""
    params = inspect.signature(module.run).parameters
    result = module.run(**{k: v for k, v in vars(args).items() if k in params})
    if isinstance(result, dict):
        json_line(result)


def add_parser(commands: Any) -> None:
    """Add ``bench`` to the ``commands`` subparsers, with one subcommand per benchmark."""
    b = commands.add_parser("bench", help="benchmarks: mmbench vs the raw library on the same model (JSON last line)",
                            description="Benchmarks of mmbench against the raw libraries (mmbench.benchmarks); a "
                                        "table goes to stderr, the last stdout line is one JSON object. "
                                        "`mmbench bench NAME --help` lists a benchmark's options.")
    names = b.add_subparsers(dest="benchmark", required=True, metavar="NAME")
    for name, module in BENCHMARKS.items():
        p = names.add_parser(name, help=module.__doc__.splitlines()[0].removeprefix("Benchmark: "),
                             description=module.__doc__, **PARSER_OPTIONS)
        module.add_arguments(p)
        p.set_defaults(handler=lambda args, module=module: run_benchmark(module, args))
