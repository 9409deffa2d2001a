"""Sanity checks for saliency maps (Adebayo et al. 2018, arXiv:1810.03292): a map that barely
changes when the model's weights are re-initialised explains the image, not the model.

:func:`randomized_copy` returns a pipeline whose image tower is re-initialised, cascading from
the top (output side) down; the original pipeline is untouched.
"""

from __future__ import annotations

import copy
from typing import Any

from ..errors import InvalidInputError
from ..backends.adapters import get_adapter


def randomize_weights(module: Any, seed: int = 0, down_to: str | None = None) -> list[str]:
    """Re-initialise ``module``'s parameters in place, from its last submodule backwards.

    ``down_to``: the dotted name of the last submodule to re-initialise (cascading randomisation
    stops there); None re-initialises everything. Layers use their own ``reset_parameters()``;
    bare parameters (position embeddings, class tokens) get N(0, 0.02). Returns the names of the
    re-initialised submodules, top first.
    """
    import torch

    names = [name for name, _ in module.named_modules()]
    if down_to is not None and down_to not in names:
        raise InvalidInputError(f"No submodule {down_to!r} to randomise down to.")
    done: list[str] = []
    seen: set[int] = set()
    cuda = sorted({p.device.index or 0 for p in module.parameters() if p.device.type == "cuda"})
    with torch.random.fork_rng(devices=cuda), torch.no_grad():  # the caller's RNG streams stay as they were
        torch.manual_seed(seed)
        for name, sub in reversed(list(module.named_modules())):
            own = [p for p in sub.parameters(recurse=False) if id(p) not in seen]
            if own:
                if hasattr(sub, "reset_parameters"):
                    sub.reset_parameters()
                else:
                    for p in own:
                        p.normal_(0.0, 0.02)
                seen.update(id(p) for p in own)
                done.append(name)
            if name == down_to:
                break
    return done


def randomized_copy(pipe: Any, seed: int = 0, down_to: str | None = None) -> Any:
    """A copy of ``pipe`` whose image tower (the explain adapter's ``image_model``) has random
    weights; text tower, preprocessing and labels are shared with the original."""
    backend = pipe.backend
    if not hasattr(backend, "model"):
        raise InvalidInputError(f"Cannot copy the model of {pipe!r} for a randomisation check.")
    clone = copy.copy(backend)
    clone.model = copy.deepcopy(backend.model)
    clone.__dict__.pop("_mmbench_explain_adapter", None)  # built afresh around the copied model
    twin = type(pipe)(clone, pipe.spec, notice=getattr(pipe, "notice", ""))
    randomize_weights(get_adapter(twin).image_model, seed=seed, down_to=down_to)
    return twin
