"""The single device and dtype policy of mmbench: cuda -> mps -> cpu; half precision on GPUs.

Every pipeline asks :func:`resolve_device` and :func:`resolve_dtype`; nothing else in mmbench
picks a device on its own.
"""

from __future__ import annotations

import os
from typing import Any

from .errors import InvalidInputError

_ALIASES = {"gpu": "cuda"}


def resolve_device(device: Any = None) -> "Any":
    """Return a ``torch.device``.

    ``None``/``"auto"`` picks cuda if available, then Apple mps, then cpu; the environment
    variable ``MMBENCH_DEVICE`` overrides the automatic choice. An explicit but unavailable
    device (``"cuda"`` on a CPU machine) raises :class:`InvalidInputError`.
    """
    import torch

    if isinstance(device, torch.device):
        requested = device
    else:
        name = device if device not in (None, "auto") else os.environ.get("MMBENCH_DEVICE") or "auto"
        name = _ALIASES.get(str(name).lower(), str(name).lower())
        if name == "auto":
            if torch.cuda.is_available():
                return torch.device("cuda")
            mps = getattr(torch.backends, "mps", None)
            if mps is not None and mps.is_available():
                return torch.device("mps")
            return torch.device("cpu")
        try:
            requested = torch.device(name)
        except (RuntimeError, TypeError) as err:
            raise InvalidInputError(f"Unknown device {device!r}.", hint="Use 'cpu', 'cuda', 'mps' or 'auto'.") from err
    if requested.type == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("CUDA was requested but no CUDA GPU is available.", hint="Use device='cpu' or 'auto'.")
    if requested.type == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise InvalidInputError("Apple MPS was requested but is not available.", hint="Use device='cpu' or 'auto'.")
    return requested


def resolve_dtype(device: Any, dtype: Any = None) -> "Any":
    """Default dtype for ``device``: float32 on CPU, bfloat16 on CUDA GPUs that support it,
    else float16 on GPUs. An explicit ``dtype`` (torch dtype or name such as ``"fp16"``) wins."""
    import torch

    if dtype is not None:
        if isinstance(dtype, torch.dtype):
            return dtype
        names = {"fp32": torch.float32, "float32": torch.float32, "fp16": torch.float16, "float16": torch.float16,
                 "bf16": torch.bfloat16, "bfloat16": torch.bfloat16}
        try:
            return names[str(dtype).lower()]
        except KeyError as err:
            raise InvalidInputError(f"Unknown dtype {dtype!r}.", hint="Use fp32, fp16 or bf16.") from err
    device = torch.device(device)
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "mps":
        return torch.float16
    return torch.float32
