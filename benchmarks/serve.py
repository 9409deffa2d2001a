"""``python benchmarks/serve.py [options]``: the same as ``mmbench bench serve [options]``.

The benchmark lives in :mod:`mmbench.benchmarks.serve`; its ``run`` and ``main`` are re-exported here.
"""

import sys
from pathlib import Path

try:
    import mmbench  # noqa: F401
except ImportError:  # run from a checkout without `pip install -e .`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmbench.benchmarks.serve import main, run  # noqa: E402,F401

if __name__ == "__main__":
    from mmbench.cli import main as mmbench_main

    sys.exit(mmbench_main(["bench", "serve", *sys.argv[1:]]))
