"""The command line's two output streams: progress on stderr, and JSON objects one per line on
stdout (the last line of ``eval``, ``bench`` and ``train`` is the summary)."""

from __future__ import annotations

import json
import sys
from typing import Any


def json_line(obj: dict) -> None:
    """Print ``obj`` as one JSON line on stdout (numpy scalars and arrays as plain numbers and lists)."""
    print(json.dumps(obj, default=jsonable), flush=True)


def jsonable(o: Any) -> Any:
    """``json.dumps``'s fallback: numpy numbers and arrays to Python ones, anything else to ``str``."""
    import numpy as np

    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def err(msg: str) -> None:
    """One progress line on stderr."""
    print(msg, file=sys.stderr, flush=True)
