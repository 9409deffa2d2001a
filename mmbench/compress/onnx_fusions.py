"""Export-time fusion of the tiny CLIP's attention into ONNX Runtime's ``MultiHeadAttention`` kernel.

The TorchScript exporter writes each attention layer as some twenty ONNX nodes (head split by
Reshape/Transpose, two batched MatMuls, Softmax, the mask arithmetic), which ONNX Runtime's graph
optimiser and its transformer optimizer (``onnxruntime.transformers.optimizer``) do not recognise
as attention, and which cost ~15% of the image tower's time next to the projections' MatMuls.
:func:`with_fused_attention` returns a copy of a model whose :class:`mmbench.models.tiny_clip.Attention`
layers export as one ``com.microsoft.MultiHeadAttention`` node each (the q/k/v biases folded into its
``bias`` input, the key-padding mask as its ``key_padding_mask``); in PyTorch the copy computes the
same thing as the original (it still calls ``scaled_dot_product_attention``). The exported file
then needs ONNX Runtime (a contrib operator), which is what :class:`OnnxBackend` runs it with.
"""

from __future__ import annotations

import copy
import types
from typing import Any

#: The ONNX Runtime contrib operator the attention layers become.
FUSED_OP = "com.microsoft::MultiHeadAttention"


def _mha_function() -> Any:
    import torch
    import torch.nn.functional as F

    class FusedAttention(torch.autograd.Function):
        """Scaled dot-product attention of already projected q, k, v (plus their biases); exported
        as one ``MultiHeadAttention`` node by :meth:`symbolic`."""

        @staticmethod
        def forward(ctx: Any, q: Any, k: Any, v: Any, bias: Any, keep: Any, heads: int) -> Any:
            b, lq, d = q.shape
            q, k, v = (t + part for t, part in zip((q, k, v), bias.split(d)))
            qh, kh, vh = (t.view(b, t.shape[1], heads, d // heads).transpose(1, 2) for t in (q, k, v))
            mask = None if keep is None else keep[:, None, None, :]
            return F.scaled_dot_product_attention(qh, kh, vh, attn_mask=mask).transpose(1, 2).reshape(b, lq, d)

        @staticmethod
        def symbolic(g: Any, q: Any, k: Any, v: Any, bias: Any, keep: Any, heads: int) -> Any:
            if keep is None or keep.node().mustBeNone():
                out = g.op(FUSED_OP, q, k, v, bias, num_heads_i=heads)
            else:
                mask = g.op("Cast", keep, to_i=6)  # int32, 1 = attend (ONNX TensorProto.INT32 = 6)
                out = g.op(FUSED_OP, q, k, v, bias, mask, num_heads_i=heads)
            out.setType(q.type())  # (B, L, D) like the query; without it the exporter warns on stderr
            return out

    return FusedAttention


def _fused_forward(self: Any, x: Any, context: Any = None, key_padding_mask: Any = None) -> Any:
    """:meth:`Attention.forward` with the projections' biases moved into the fused node."""
    import torch
    import torch.nn.functional as F

    ctx = x if context is None else context
    bias = torch.cat([self.q.bias, self.kv.bias])
    keep = None if key_padding_mask is None else ~key_padding_mask
    y = self._fused.apply(F.linear(x, self.q.weight), F.linear(ctx, self.fused_k_weight),
                          F.linear(ctx, self.fused_v_weight), bias, keep, self.heads)
    return self.out(y)


def with_fused_attention(model: Any) -> tuple[Any, int]:
    """``(a deep copy of model whose tiny-CLIP attention layers export fused, how many were fused)``.

    Models without such layers come back as an unchanged copy and 0 (they export node by node)."""
    from ..models.tiny_clip import Attention

    fused = copy.deepcopy(model)
    layers = [m for m in fused.modules() if isinstance(m, Attention) and m.q.bias is not None and m.kv.bias is not None]
    function = _mha_function() if layers else None
    for layer in layers:
        # k and v weights as tensors of their own: a slice of the kv weight would export as a Split
        # node, which keeps those MatMuls out of ONNX Runtime's int8 quantization (it needs initialisers).
        w_k, w_v = layer.kv.weight.detach().chunk(2)
        layer.register_buffer("fused_k_weight", w_k.clone())
        layer.register_buffer("fused_v_weight", w_v.clone())
        layer._fused = function
        layer.forward = types.MethodType(_fused_forward, layer)
    return fused, len(layers)
