"""The ``compressed`` backend: registry rows such as ``mmbench-tiny-clip-int8`` that name a base model
and a :data:`~mmbench.compress.METHODS` method, built from the base's offline weights when
:func:`mmbench.pipeline` loads them.

A row looks like ``backend = "compressed"``, ``source = "compress:mmbench-tiny-clip"``,
``options = { base = "mmbench-tiny-clip", method = "int8-dynamic" }``. ``backends.LOADERS`` names
:func:`load` by its dotted path (as it names every loader), so the layers below never import this
package. Nothing is stored: the int8 copy or the ONNX files are made at load time (about 4 s
for the tiny CLIP on 2 cores) and the loaded pipeline is kept by the model cache like any other.
"""

from __future__ import annotations

import tempfile
from typing import Any

from ..errors import ModelUnavailableError
from ..registry import ModelSpec, get_spec


def load(spec: ModelSpec, device: Any, dtype: Any) -> Any:
    """The compressed backend of ``spec`` (its ``options``: ``base`` registry row, ``method``).

    Compressed copies run on the CPU in float32 inputs (int8 kernels and ONNX Runtime's CPU provider
    are CPU-only), whatever ``device``/``dtype`` the pipeline was asked for; ``backend.note`` says so.

    Raises:
        ModelUnavailableError: the row is incomplete, or its base model cannot be loaded (the message
            names the base and how to get it).
    """
    from ..loading import pipeline
    from .api import METHODS, compress

    base_name, method = spec.options.get("base"), spec.options.get("method")
    if not base_name or method not in METHODS:
        raise ModelUnavailableError(f"The registry row '{spec.name}' needs options base = <a model> and method = one of "
                                    f"{', '.join(METHODS)}.", model=spec.name)
    base = get_spec(base_name, spec.task)
    try:
        pipe = pipeline(spec.task, model=base, device="cpu", fallback=False, cache=False)
    except ModelUnavailableError as err:
        raise ModelUnavailableError(f"'{spec.name}' is built from '{base.name}', which cannot be loaded: {err.message}",
                                    model=spec.name, hint=base.how_to_get()) from err
    with tempfile.TemporaryDirectory(prefix=f"mmbench-{spec.name}-") as folder:
        # ONNX Runtime reads the files when it opens its sessions and the PyTorch copies live in
        # memory, so the written files can go with the folder.
        backend = compress(pipe, method, folder=folder).backend
    backend.spec = spec
    where = "" if str(device) == "cpu" else f" (asked for {device}: compressed copies run on the CPU)"
    backend.note = f"{base.name} compressed by mmbench.compress, method '{method}': {METHODS[method]}{where}"
    return backend
