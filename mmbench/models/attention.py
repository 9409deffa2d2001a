"""Model-level attention recording: :class:`AttentionTap` (attention probabilities of any attention
module, on the autograd graph) and :class:`CrossAttentionTap` (every call of a model's cross-attention
modules, chosen by name), plus :func:`query_grid`.

Fast attention kernels (``scaled_dot_product_attention``, ``nn.MultiheadAttention`` with
``need_weights=False``, transformers' SDPA) never materialise the softmax, so there is nothing to
hook. While a tap is active, *in the thread that opened it*, each tapped module runs an explicit
computation instead (the same function, written out: ``softmax(q k^T * scale) v``) and hands the
probabilities ``(batch, heads, queries, keys)`` to the tap; every other thread keeps running the
module's own forward. The explicit versions live in :func:`attention_function`:

* mmbench's own ``Attention`` (tiny CLIP; self- or cross-attention with a context);
* ``torch.nn.MultiheadAttention`` (open_clip towers; batch-first or sequence-first);
* transformers attention modules with ``q_proj``/``k_proj``/``v_proj`` and ``out_proj``/``o_proj``
  (CLIP, ViT, BLIP-style, ...);
* diffusers ``Attention`` (UNet / DiT self- and cross-attention), through its default processor.

Used by :mod:`mmbench.explain.attention` (rollout, Chefer relevance, the per-head viewer), by
:mod:`mmbench.explain.cross_attention` (per-token maps of captioners and text-to-image models) and
by backends that hand recorded cross-attention to those maps.
"""

from __future__ import annotations

import math
import re
import threading
import types
from typing import Any, Callable, Mapping, Sequence

from ..errors import InvalidInputError

_ACTIVE = threading.local()  # .sinks: {id(module): callable(probs)} of this thread's open taps
_INSTALL_LOCK = threading.Lock()
_INSTALLED: dict[int, int] = {}  # id(module) -> number of open taps using it
_ATTRIBUTE = "_mmbench_attention_fn"


# --------------------------------------------------------------------------------------------
# Explicit attention, one function per module family: fn(module, *args, **kwargs) -> (output, probs)
# --------------------------------------------------------------------------------------------
def _mmbench_attention(m: Any, x: Any, context: Any = None, key_padding_mask: Any = None) -> tuple[Any, Any]:
    """mmbench.models.tiny_clip.Attention (the keep_attention branch of its forward)."""
    b, lq, d = x.shape
    ctx = x if context is None else context
    h = m.heads
    q = m.q(x).view(b, lq, h, d // h).transpose(1, 2)
    k, v = m.kv(ctx).view(b, ctx.shape[1], 2, h, d // h).permute(2, 0, 3, 1, 4)
    scores = (q @ k.transpose(-1, -2)) / math.sqrt(d // h)
    if key_padding_mask is not None:  # True where padded
        scores = scores.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    probs = scores.softmax(-1)
    return m.out((probs @ v).transpose(1, 2).reshape(b, lq, d)), probs


def _torch_mha(m: Any, query: Any, key: Any, value: Any, key_padding_mask: Any = None, need_weights: bool = True,
               attn_mask: Any = None, average_attn_weights: bool = True, is_causal: bool = False) -> tuple[Any, Any]:
    """torch.nn.MultiheadAttention, written out (no dropout: taps are for inference)."""
    import torch
    import torch.nn.functional as F

    if m.bias_k is not None or m.add_zero_attn:
        raise NotImplementedError("MultiheadAttention with add_bias_kv / add_zero_attn cannot be tapped")
    if not m.batch_first:
        query, key, value = (t.transpose(0, 1) for t in (query, key, value))
    b, lq, d = query.shape
    h = m.num_heads
    hd = d // h
    if m._qkv_same_embed_dim:
        wq, wk, wv = m.in_proj_weight.chunk(3)
    else:
        wq, wk, wv = m.q_proj_weight, m.k_proj_weight, m.v_proj_weight
    bq, bk, bv = m.in_proj_bias.chunk(3) if m.in_proj_bias is not None else (None, None, None)
    q = F.linear(query, wq, bq).view(b, lq, h, hd).transpose(1, 2)
    k = F.linear(key, wk, bk).view(b, key.shape[1], h, hd).transpose(1, 2)
    v = F.linear(value, wv, bv).view(b, value.shape[1], h, hd).transpose(1, 2)
    scores = (q @ k.transpose(-1, -2)) * hd ** -0.5
    if attn_mask is None and is_causal:
        attn_mask = torch.ones(lq, k.shape[2], dtype=torch.bool, device=q.device).triu(1)
    if attn_mask is not None:
        mask = attn_mask if attn_mask.dim() == 2 else attn_mask.view(b, h, lq, -1)
        scores = scores.masked_fill(mask, float("-inf")) if mask.dtype == torch.bool else scores + mask
    if key_padding_mask is not None:
        pad = key_padding_mask[:, None, None, :]
        scores = scores.masked_fill(pad, float("-inf")) if pad.dtype == torch.bool else scores + pad
    probs = scores.softmax(-1)
    out = m.out_proj((probs @ v).transpose(1, 2).reshape(b, lq, d))
    if not m.batch_first:
        out = out.transpose(0, 1)
    weights = (probs.mean(1) if average_attn_weights else probs) if need_weights else None
    return (out, weights), probs


def _transformers_attention(m: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    """transformers' q_proj/k_proj/v_proj attention (CLIP, ViT...): eager attention, written out."""
    import torch

    hidden = args[0] if args else kwargs["hidden_states"]
    mask = args[1] if len(args) > 1 else kwargs.get("attention_mask")
    b, lq, _ = hidden.shape
    hd = int(m.head_dim)
    q = m.q_proj(hidden).view(b, lq, -1, hd).transpose(1, 2)
    k = m.k_proj(hidden).view(b, lq, -1, hd).transpose(1, 2)
    v = m.v_proj(hidden).view(b, lq, -1, hd).transpose(1, 2)
    scale = getattr(m, "scale", None) or getattr(m, "scaling", None) or hd ** -0.5
    scores = (q @ k.transpose(-1, -2)) * scale
    if mask is not None:
        scores = scores + mask
    probs = scores.softmax(-1, dtype=torch.float32).to(q.dtype)
    out = (probs @ v).transpose(1, 2).reshape(b, lq, -1)
    out = (m.out_proj if hasattr(m, "out_proj") else m.o_proj)(out)
    return (out, probs), probs


def _diffusers_attention(m: Any, hidden_states: Any, encoder_hidden_states: Any = None, attention_mask: Any = None,
                         **kwargs: Any) -> tuple[Any, Any]:
    """diffusers' Attention through its reference processor (``AttnProcessor``), recording the
    probabilities its ``get_attention_scores`` returns (``(batch*heads, Lq, Lk)``)."""
    from diffusers.models.attention_processor import AttnProcessor

    seen: list[Any] = []

    class _Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(m, name)

        def get_attention_scores(self, query: Any, key: Any, mask: Any = None) -> Any:
            probs = m.get_attention_scores(query, key, mask)
            seen.append(probs)
            return probs

    out = AttnProcessor()(_Recording(), hidden_states, encoder_hidden_states=encoder_hidden_states,
                          attention_mask=attention_mask, temb=kwargs.get("temb"))
    probs = seen[-1]
    return out, probs.view(-1, m.heads, *probs.shape[1:])


def attention_function(module: Any) -> Callable[..., tuple[Any, Any]] | None:
    """The explicit computation of ``module`` as ``fn(module, *args, **kwargs) -> (output, probs)``,
    or None when mmbench does not know how to compute this kind of attention."""
    import torch.nn as nn

    if isinstance(module, nn.MultiheadAttention):
        return _torch_mha
    cls = type(module)
    if cls.__module__.startswith("mmbench.") and all(hasattr(module, a) for a in ("q", "kv", "out", "heads")):
        return _mmbench_attention
    if cls.__module__.startswith("diffusers.") and cls.__name__ == "Attention" and hasattr(module, "get_attention_scores"):
        return _diffusers_attention
    if (all(hasattr(module, a) for a in ("q_proj", "k_proj", "v_proj", "head_dim"))
            and (hasattr(module, "out_proj") or hasattr(module, "o_proj"))):
        return _transformers_attention
    return None


# --------------------------------------------------------------------------------------------
# The tap
# --------------------------------------------------------------------------------------------
def _gated_forward(self: Any, *args: Any, **kwargs: Any) -> Any:
    sinks = getattr(_ACTIVE, "sinks", None)
    sink = sinks.get(id(self)) if sinks else None
    if sink is None:  # not tapped in this thread: the module's own forward
        return type(self).forward(self, *args, **kwargs)
    output, probs = self.__dict__[_ATTRIBUTE](self, *args, **kwargs)
    sink(probs)
    return output


class AttentionTap:
    """Record the attention probabilities of named modules during forward passes in this thread.

    >>> tap = AttentionTap({"visual.blocks.0.attn": block.attn})   # doctest: +SKIP
    >>> with tap:                                                    # doctest: +SKIP
    ...     model(pixels)
    >>> tap.probs["visual.blocks.0.attn"][-1].shape                  # (batch, heads, Lq, Lk)  # doctest: +SKIP

    ``probs[name]`` holds one tensor per call of the module (a decoder step, a diffusion step...).
    With ``detach=False`` (default) they stay on the autograd graph, so gradients with respect to
    the attention can be taken (Chefer et al. 2021); ``detach=True`` keeps float32 CPU copies
    (for recording many steps). ``on_record(name, probs)`` is called for every call as well.
    Other threads running the same modules meanwhile are not recorded and not slowed down beyond
    one Python call per module. Raises ``TypeError`` for a module :func:`attention_function`
    does not know.
    """

    def __init__(self, modules: Mapping[str, Any], detach: bool = False,
                 on_record: Callable[[str, Any], None] | None = None) -> None:
        self.modules = dict(modules)
        for name, module in self.modules.items():
            if attention_function(module) is None:
                raise TypeError(f"cannot tap {name!r}: {type(module).__name__} is not an attention module mmbench "
                                "knows (see mmbench.models.attention.attention_function)")
        self.detach = detach
        self.on_record = on_record
        self.probs: dict[str, list[Any]] = {name: [] for name in self.modules}
        self._saved: dict[int, Any] | None = None

    def _sink(self, name: str) -> Callable[[Any], None]:
        def record(probs: Any) -> None:
            if self.detach:
                probs = probs.detach().float().cpu()
            self.probs[name].append(probs)
            if self.on_record is not None:
                self.on_record(name, probs)

        return record

    def __enter__(self) -> "AttentionTap":
        if self._saved is not None:
            raise RuntimeError("this AttentionTap is already open")
        with _INSTALL_LOCK:
            for module in self.modules.values():
                key = id(module)
                if _INSTALLED.get(key, 0) == 0:
                    module.__dict__[_ATTRIBUTE] = attention_function(module)
                    module.forward = types.MethodType(_gated_forward, module)
                _INSTALLED[key] = _INSTALLED.get(key, 0) + 1
        sinks = getattr(_ACTIVE, "sinks", None)
        if sinks is None:
            sinks = _ACTIVE.sinks = {}
        self._saved = {id(m): sinks.get(id(m)) for m in self.modules.values()}
        for name, module in self.modules.items():
            sinks[id(module)] = self._sink(name)
        return self

    def __exit__(self, *exc: Any) -> None:
        sinks = _ACTIVE.sinks
        for key, previous in (self._saved or {}).items():  # nested taps on one module: the outer one again
            if previous is None:
                sinks.pop(key, None)
            else:
                sinks[key] = previous
        self._saved = None
        with _INSTALL_LOCK:
            for module in self.modules.values():
                key = id(module)
                _INSTALLED[key] -= 1
                if _INSTALLED[key] == 0:
                    del _INSTALLED[key]
                    module.__dict__.pop("forward", None)
                    module.__dict__.pop(_ATTRIBUTE, None)

    def clear(self) -> None:
        """Forget what was recorded (the tap stays open)."""
        for values in self.probs.values():
            values.clear()

    def last(self, name: str) -> Any:
        """The most recent probabilities recorded for ``name``."""
        if not self.probs.get(name):
            raise RuntimeError(f"no attention was recorded for {name!r} (did the forward pass run through it?)")
        return self.probs[name][-1]


# --------------------------------------------------------------------------------------------
# Cross-attention of named modules, every call (the records behind per-token maps)
# --------------------------------------------------------------------------------------------
class CrossAttentionTap:
    """Record the attention probabilities of a model's cross-attention modules, every call.

    Args:
        model: the ``nn.Module`` whose submodules are recorded.
        modules: a regex matched (``fullmatch``) against ``model.named_modules()`` names, a list
            of names, or a ``{name: module}`` mapping.

    Attributes (after the ``with`` block):
        records: ``{name: [probs (batch, heads, Lq, Lk) float32 CPU, one per call]}``.

    :class:`mmbench.explain.CrossAttentionRecorder` adds the per-token maps on top.
    """

    def __init__(self, model: Any, modules: str | Sequence[str] | Mapping[str, Any]) -> None:
        named = dict(model.named_modules())
        if isinstance(modules, str):
            rx = re.compile(modules)
            chosen = {n: m for n, m in named.items() if n and rx.fullmatch(n)}
        elif isinstance(modules, Mapping):
            chosen = dict(modules)
        else:
            missing = [n for n in modules if n not in named]
            if missing:
                raise InvalidInputError(f"The model has no module(s) {', '.join(map(repr, missing))}.")
            chosen = {n: named[n] for n in modules}
        if not chosen:
            raise InvalidInputError(f"No module of {type(model).__name__} matches {modules!r}.",
                                    hint="Name the cross-attention modules (a regex over model.named_modules()).")
        self._tap = AttentionTap(chosen, detach=True)

    @property
    def names(self) -> list[str]:
        return list(self._tap.modules)

    @property
    def records(self) -> dict[str, list[Any]]:
        return self._tap.probs

    def __enter__(self) -> "CrossAttentionTap":
        self._tap.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._tap.__exit__(*exc)

    def clear(self) -> None:
        """Forget what was recorded (the tap stays open)."""
        self._tap.clear()


def query_grid(length: int, size: tuple[int, int]) -> tuple[int, int]:
    """``(gh, gw)`` with ``gh * gw == length`` closest to the aspect ratio of ``size`` (H, W): the
    spatial layout of ``length`` image queries (a UNet level) of an image of that size."""
    h, w = size
    best = None
    for gh in range(1, int(math.isqrt(length)) + 1):
        if length % gh:
            continue
        for a, b in ((gh, length // gh), (length // gh, gh)):
            err = abs(math.log((a / b) / (h / w)))
            if best is None or err < best[0]:
                best = (err, a, b)
    return best[1], best[2]
