"""``python -m mmbench.cli``: the same as the ``mmbench`` command."""

import sys

from . import main

sys.exit(main())
