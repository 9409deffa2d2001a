"""Benchmarks: mmbench against calling the underlying library directly, same model, same inputs.

One module per benchmark (``mmbench bench NAME``; ``python benchmarks/NAME.py`` in a checkout), each
with ``add_arguments(parser)`` (its command-line options), ``run(**options) -> dict`` (the benchmark:
a table on stderr, the result returned) and ``main(argv) -> dict`` (the two together).
"""

from __future__ import annotations

from . import compress, explain, fusion, matching, retrieval, serve, speech, text_to_image, video

#: ``mmbench bench NAME`` -> the benchmark's module.
BENCHMARKS = {"matching": matching, "retrieval": retrieval, "fusion": fusion, "explain": explain, "speech": speech,
              "video": video, "text-to-image": text_to_image, "compress": compress,
              "serve": serve}
