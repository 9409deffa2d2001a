"""Attention-based explanations of vision transformers, registered in the one explain API:

* ``"rollout"`` — attention rollout (Abnar & Zuidema 2020): the attention of each block, averaged
  over heads and mixed with the residual path (``0.5 A + 0.5 I``), multiplied through the blocks;
  the read-out token's row says how much each patch flowed into it. The same map for every
  target (it explains the *image* representation, not a class or a text).
* ``"chefer"`` — gradient-weighted attention relevance (Chefer, Gur & Wolf 2021, "Generic
  attention-model explainability..."): ``R <- R + mean_heads((dScore/dA * A)^+) R`` block by
  block, starting from the identity. The score is the target's (a class logit, or the
  image-text similarity minus a neutral caption's), so the map is text-conditioned for CLIPs.
* ``"attention"`` — the raw attention of the read-out token in one block (``block=-1``: the
  last), averaged over heads or for one ``head``.

:func:`attention_maps` is the per-head / per-layer viewer: one :class:`Explanation` per (block,
head). The attention comes from :class:`~mmbench.models.attention.AttentionTap` (explicit softmax,
on the autograd graph), so it works for the tiny CLIP, open_clip ViTs and transformers CLIP / ViT
models alike.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from .methods import ExplainRequest, Method, MethodResult, register_method

_CACHE_KEY = "vit-attention"


@dataclass(frozen=True)
class VitAttention:
    """Where a ViT's self-attention lives, in the adapter's ``image_model``.

    Attributes:
        names: dotted names of the attention modules, first block first.
        modules: the modules (tapped with :class:`~mmbench.models.attention.AttentionTap`).
        grid: ``(gh, gw)`` patch grid; the last ``gh * gw`` tokens are the patches.
        readout: ``"cls"`` (the first token is pooled) or ``"mean"`` (patch tokens are averaged).
    """

    names: tuple[str, ...]
    modules: tuple[Any, ...]
    grid: tuple[int, int]
    readout: str

    @property
    def blocks(self) -> int:
        return len(self.names)


def find_vit_attention(adapter: Any) -> VitAttention | None:
    """The :class:`VitAttention` of an adapter's image model, or None when it is not a ViT whose
    attention mmbench can read (CNNs, attention-pooled towers). Cached on the adapter."""
    if _CACHE_KEY in adapter.cache:
        return adapter.cache[_CACHE_KEY]
    found = None
    grid = getattr(adapter.reshape_transform, "grid", None)
    if grid is not None:
        from ..models.attention import attention_function

        readout = "cls"
        visual = getattr(adapter.extras.get("model"), "visual", None)
        if visual is not None and hasattr(visual, "pool_type"):  # open_clip VisionTransformer
            if getattr(visual, "attn_pool", None) is not None or visual.pool_type not in ("tok", "avg"):
                visual = "unsupported"
            elif visual.pool_type == "avg":
                readout = "mean"
        numbered = re.compile(r".*\.\d+(\..*)?")
        items = [(n, m) for n, m in adapter.image_model.named_modules()
                 if numbered.fullmatch(n) and "pool" not in n and attention_function(m) is not None]
        if items and visual != "unsupported":
            found = VitAttention(tuple(n for n, _ in items), tuple(m for _, m in items), tuple(grid), readout)
    adapter.cache[_CACHE_KEY] = found
    return found


def vit_attention(adapter: Any) -> VitAttention:
    """:func:`find_vit_attention`, or :class:`InvalidInputError` naming the model."""
    found = find_vit_attention(adapter)
    if found is None:
        raise InvalidInputError(f"{adapter.name} is not a vision transformer whose attention mmbench can read.",
                                hint="Attention methods need a ViT image tower; use a CAM method (gradcam...) instead.")
    return found


def _supports(adapter: Any) -> bool:
    return find_vit_attention(adapter) is not None


# --------------------------------------------------------------------------------------------
# Forward passes that record attention
# --------------------------------------------------------------------------------------------
def record_attention(adapter: Any, pixels: Any, targets: Sequence[Any] | None = None) -> tuple[list, list | None, Any]:
    """One forward pass of ``pixels`` recording every block's attention.

    Returns ``(probs, grads, scores)``: per block ``(N, heads, L, L)`` float32 tensors; with
    ``targets`` (one score callable per image) also the gradients of the summed target scores
    with respect to each block's attention, and the scores ``(N,)``. Weights stay untouched:
    gradients flow from the input while the weights are frozen (as for the CAM methods).
    """
    import torch

    from ..models.attention import AttentionTap
    from .cam import frozen_weights

    va = vit_attention(adapter)
    tap = AttentionTap(dict(zip(va.names, va.modules)))
    if targets is None:
        with torch.no_grad(), tap:
            adapter.image_model(pixels)
        return [tap.last(n).float() for n in va.names], None, None
    with frozen_weights(adapter.image_model), torch.enable_grad():
        x = pixels.detach().requires_grad_(True)
        with tap:
            out = adapter.image_model(x)
        scores = torch.stack([t(o) for t, o in zip(targets, out)]).float()
        probs = [tap.last(n) for n in va.names]
        grads = torch.autograd.grad(scores.sum(), probs)
    return [p.detach().float() for p in probs], [g.float() for g in grads], scores.detach()


def _readout_row(relevance: Any, readout: str, n_patches: int) -> Any:
    """``(N, L, L)`` token-to-token relevance -> ``(N, n_patches)`` relevance of each patch for the read-out."""
    if readout == "cls":
        return relevance[:, 0, -n_patches:]
    return relevance[:, -n_patches:, -n_patches:].mean(1)


def fuse_heads(attention: Any, how: str = "mean") -> Any:
    """``(N, heads, L, L)`` -> ``(N, L, L)`` by ``"mean"``, ``"max"`` or ``"min"`` over heads."""
    if how == "mean":
        return attention.mean(1)
    if how == "max":
        return attention.amax(1)
    if how == "min":
        return attention.amin(1)
    raise InvalidInputError(f"head_fusion is 'mean', 'max' or 'min', not {how!r}.")


def rollout(probs: Sequence[Any], head_fusion: str = "mean", discard_ratio: float = 0.0) -> Any:
    """Attention rollout (Abnar & Zuidema 2020) of per-block attention ``(N, heads, L, L)``:
    ``prod_l norm(fuse(A_l) + I)``, shape ``(N, L, L)``. ``discard_ratio`` zeroes that fraction of
    the weakest attention weights per image and block (never the read-out token's own), as in
    the widely used ``vit-explain`` variant."""
    import torch

    if not 0.0 <= float(discard_ratio) < 1.0:
        raise InvalidInputError(f"discard_ratio must be in [0, 1), not {discard_ratio!r}.")
    n, _, length, _ = probs[0].shape
    eye = torch.eye(length, device=probs[0].device).expand(n, length, length)
    result = eye.clone()
    n_weights = length * length
    for attention in probs:
        a = fuse_heads(attention, head_fusion)
        k = int(n_weights * discard_ratio)
        if k:
            flat = a.reshape(n, -1)
            drop = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, flat.topk(k, dim=-1, largest=False).indices,
                                                                     True)
            drop[:, 0] = False  # the read-out token's attention to itself stays
            a = flat.masked_fill(drop, 0.0).view_as(a)
        a = a + eye
        a = a / a.sum(-1, keepdim=True)
        result = a @ result
    return result


def chefer_relevance(probs: Sequence[Any], grads: Sequence[Any], start_block: int = 0) -> Any:
    """Chefer et al. 2021 relevance ``(N, L, L)`` of self-attention blocks: ``R = I``, then for each
    block from ``start_block`` on, ``R += mean_heads(relu(grad * A)) @ R``."""
    import torch

    n, _, length, _ = probs[0].shape
    relevance = torch.eye(length, device=probs[0].device).expand(n, length, length).clone()
    for a, g in list(zip(probs, grads))[start_block:]:
        cam = (g * a).clamp(min=0).mean(1)
        relevance = relevance + cam @ relevance
    return relevance


# --------------------------------------------------------------------------------------------
# Methods
# --------------------------------------------------------------------------------------------
def _grid_maps(adapter: Any, va: VitAttention, rows: Any) -> Any:
    gh, gw = va.grid
    return rows.reshape(rows.shape[0], gh, gw)


def _with_shifts(adapter: Any, pixels: Any, shifts: int, compute: Any) -> tuple[np.ndarray, dict]:
    """``compute(pixels) -> ((N, gh, gw) maps, extra)``; with ``shifts > 1`` the input is also
    shifted by fractions of the patch stride (the same transforms as the CAM methods' ``shifts``),
    every map is upsampled, min-max scaled, shifted back and averaged: a finer map than the grid."""
    import torch
    import torch.nn.functional as F

    stride = adapter.patch_size
    if shifts <= 1 or not stride or stride <= 1:
        maps, extra = compute(pixels)
        return maps.detach().cpu().numpy(), extra
    from .cam import shift_transforms

    key = ("shifts", stride, shifts)
    tta = adapter.cache.get(key) or adapter.cache.setdefault(key, shift_transforms(stride, shifts))
    transforms = list(tta)
    n = pixels.shape[0]
    batch = torch.cat([t.augment_image(pixels) for t in transforms])  # one forward for every shift
    maps, extra = compute(batch)
    size = tuple(pixels.shape[-2:])
    maps = F.interpolate(maps[:, None].float(), size=size, mode="bilinear", align_corners=False)
    lo = maps.amin(dim=(2, 3), keepdim=True)
    hi = maps.amax(dim=(2, 3), keepdim=True)
    maps = (maps - lo) / (hi - lo).clamp_min(1e-12)
    out = torch.stack([t.deaugment_mask(maps[i * n:(i + 1) * n]) for i, t in enumerate(transforms)]).mean(0)
    if "target_scores" in extra:  # the unshifted pass's scores (the last transform is the identity)
        extra["target_scores"] = extra["target_scores"][-n:]
    return out[:, 0].detach().cpu().numpy(), extra


def _shifts(request: ExplainRequest) -> int:
    value = request.options.get("shifts") or 1
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= int(value) <= 8:
        raise InvalidInputError(f"shifts must be an integer from 1 to 8, not {value!r}.")
    return int(value)


def run_rollout(request: ExplainRequest) -> MethodResult:
    adapter = request.adapter
    va = vit_attention(adapter)
    head_fusion = request.options.get("head_fusion") or "mean"
    discard = float(request.options.get("discard_ratio") or 0.0)

    def compute(pixels: Any) -> tuple[Any, dict]:
        probs, _, _ = record_attention(adapter, pixels)
        rows = _readout_row(rollout(probs, head_fusion, discard), va.readout, va.grid[0] * va.grid[1])
        return _grid_maps(adapter, va, rows), {}

    with adapter.lock:
        maps, _ = _with_shifts(adapter, request.pixels, _shifts(request), compute)
    return MethodResult(maps, meta={"library": "mmbench", "blocks": va.blocks, "readout": va.readout,
                                    "head_fusion": head_fusion})


def _start_block(value: Any, blocks: int) -> int:
    start = 0 if value is None else value
    if isinstance(start, bool) or not isinstance(start, (int, np.integer)) or not -blocks <= int(start) < blocks:
        raise InvalidInputError(f"start_block must be an integer from {-blocks} to {blocks - 1}, not {value!r}.")
    return int(start) % blocks


def run_chefer(request: ExplainRequest) -> MethodResult:
    adapter = request.adapter
    va = vit_attention(adapter)
    start = _start_block(request.options.get("start_block"), va.blocks)

    def compute(pixels: Any) -> tuple[Any, dict]:
        k = pixels.shape[0] // len(request.targets)
        probs, grads, scores = record_attention(adapter, pixels, list(request.targets) * k)
        rows = _readout_row(chefer_relevance(probs, grads, start), va.readout, va.grid[0] * va.grid[1])
        return _grid_maps(adapter, va, rows), {"target_scores": scores}

    with adapter.lock:
        maps, extra = _with_shifts(adapter, request.pixels, _shifts(request), compute)
    scores = [float(s) for s in extra["target_scores"].cpu()]
    return MethodResult(maps, target_scores=scores,
                        meta={"library": "mmbench", "blocks": va.blocks, "start_block": start, "readout": va.readout})


def _block_index(value: Any, blocks: int, what: str = "block") -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not -blocks <= int(value) < blocks:
        raise InvalidInputError(f"{what} must be an integer from {-blocks} to {blocks - 1}, not {value!r}.")
    return int(value) % blocks


def run_raw_attention(request: ExplainRequest) -> MethodResult:
    adapter = request.adapter
    va = vit_attention(adapter)
    block = _block_index(request.options.get("block", -1), va.blocks)
    head = request.options.get("head")
    with adapter.lock:
        probs, _, _ = record_attention(adapter, request.pixels)
    a = probs[block]
    if head is None:
        a = a.mean(1)
    else:
        a = a[:, _block_index(head, a.shape[1], "head")]
    rows = _readout_row(a, va.readout, va.grid[0] * va.grid[1])
    return MethodResult(_grid_maps(adapter, va, rows).cpu().numpy(),
                        meta={"library": "mmbench", "block": va.names[block], "head": head, "readout": va.readout})


def attention_maps(pipe: Any, image: Any, blocks: Sequence[int] | None = None, heads: bool = True,
                   query: str = "readout") -> list:
    """The per-head / per-layer attention viewer: how the read-out token attends to the patches.

    Args:
        pipe: a pipeline with a ViT image tower (tiny CLIP, open_clip / transformers CLIP, ViT).
        image: any image mmbench accepts.
        blocks: block indices (negative from the end); None: every block.
        heads: one map per head (True) or the head average only (False).
        query: ``"readout"`` (the [CLS] row, or the patch average for average-pooled towers) or
            ``"patches"`` (the attention each patch receives, averaged over all patch queries).

    Returns:
        :class:`~.explanation.Explanation` objects in block order; per block the head average
        first (``meta["head"] is None``), then each head. ``layer`` is the attention module's name.
    """
    from ..backends.adapters import get_adapter
    from ..io import validate_image
    from .explanation import Explanation, to_image_coordinates

    adapter = get_adapter(pipe)
    va = vit_attention(adapter)
    if query not in ("readout", "patches"):
        raise InvalidInputError(f"query is 'readout' or 'patches', not {query!r}.")
    chosen = list(range(va.blocks)) if blocks is None else [_block_index(b, va.blocks) for b in blocks]
    if not chosen:
        raise InvalidInputError("Choose at least one block.")
    pil = validate_image(image)
    arr = np.asarray(pil)
    with adapter.lock:
        probs, _, _ = record_attention(adapter, adapter.preprocess([pil]))
    n_patches = va.grid[0] * va.grid[1]
    readout = va.readout if query == "readout" else "mean"
    out = []
    for b in chosen:
        a = probs[b][0]  # (heads, L, L)
        for head in [None, *range(a.shape[0])] if heads else [None]:
            m = a.mean(0) if head is None else a[head]
            row = _readout_row(m[None], readout, n_patches)[0].reshape(va.grid).cpu().numpy()
            label = "mean of heads" if head is None else f"head {head}"
            out.append(Explanation(heatmap=to_image_coordinates(row, arr.shape[:2]), image=arr, method="attention",
                                   target=f"block {b} · {label}", layer=va.names[b],
                                   meta={"model": adapter.name, "block": b, "head": head, "query": query,
                                         "heads": int(a.shape[0]), "family": "attention"}))
    return out


def _register() -> None:
    register_method(Method(
        name="rollout", run=run_rollout, label="Attention rollout", family="attention", uses_layer=False,
        description="Attention of every block (mean over heads, plus the residual path) multiplied through the "
                    "network; the same map for every target.",
        options={"shifts": None, "head_fusion": "mean", "discard_ratio": 0.0}, supports=_supports,
        class_sensitive=False, reference="Abnar & Zuidema 2020, arXiv:2005.00928"), replace=True)
    register_method(Method(
        name="chefer", run=run_chefer, label="Attention relevance (Chefer)", family="attention", uses_layer=False,
        description="Attention weighted by its gradient for the target (positive part, mean over heads), "
                    "accumulated through the blocks: target- and text-conditioned.",
        options={"shifts": None, "start_block": 0}, supports=_supports, class_sensitive=True,
        reference="Chefer, Gur & Wolf 2021, arXiv:2103.15679"), replace=True)
    register_method(Method(
        name="attention", run=run_raw_attention, label="Raw attention", family="attention", uses_layer=False,
        description="How the read-out token attends to the patches in one block (block=-1: the last), "
                    "mean over heads or one head; the same map for every target.",
        options={"block": -1, "head": None}, supports=_supports, class_sensitive=False,
        reference="Dosovitskiy et al. 2021, arXiv:2010.11929 (Fig. 6)"), replace=True)


_register()
