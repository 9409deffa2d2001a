"""What every benchmark module shares: progress lines on stderr and the command-line parser built
around the module's ``add_arguments`` and ``run``."""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

#: How a benchmark's parser is made, by its own ``main`` and by ``mmbench bench NAME``: the module
#: docstring as the description, and options left off the command line absent from the namespace, so
#: that ``run``'s keyword defaults apply (the defaults live in one place, ``run``'s signature).
PARSER_OPTIONS: dict[str, Any] = {"formatter_class": argparse.RawDescriptionHelpFormatter,
                                  "argument_default": argparse.SUPPRESS}


def log(msg: str) -> None:
    """One progress or table line on stderr (stdout is kept for the JSON result)."""
    print(msg, file=sys.stderr, flush=True)


def parse_and_run(doc: str | None, add_arguments: Callable[[argparse.ArgumentParser], None],
                  run: Callable[..., dict], argv: list[str] | None) -> dict:
    """Parse ``argv`` (default ``sys.argv[1:]``) with a benchmark's options and call its ``run``."""
    parser = argparse.ArgumentParser(description=doc, **PARSER_OPTIONS)
    add_arguments(parser)
    return run(**vars(parser.parse_args(argv)))
