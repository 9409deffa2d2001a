"""Grad-CAM from scratch, for teaching: the whole method in about twenty lines of plain PyTorch.

mmbench itself runs pytorch-grad-cam (:mod:`.cam`); this file shows what it computes, and a test
checks that both agree (correlation >= 0.99 on the same model, layer and target).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def grad_cam(model: torch.nn.Module, layer: torch.nn.Module, pixels: torch.Tensor,
             target: Callable[[torch.Tensor], torch.Tensor],
             reshape: Callable[[torch.Tensor], torch.Tensor] | None = None) -> torch.Tensor:
    """Grad-CAM maps ``(N, H, W)`` in [0, 1] at the input's resolution.

    ``target(model_output) -> one score per image`` (a class logit, a text similarity...);
    ``reshape`` turns a ViT's tokens into a ``(N, C, h, w)`` grid (e.g. :class:`~mmbench.backends.adapters.TokenGrid`).
    """
    saved = {}

    def hook(module, inputs, output):  # runs during the forward pass
        saved["activations"] = output
        output.register_hook(lambda grad: saved.__setitem__("gradients", grad))  # ... and this during backward

    handle = layer.register_forward_hook(hook)
    try:
        pixels = pixels.detach().requires_grad_(True)  # so gradients flow even if the weights are frozen
        score = target(model(pixels)).sum()  # images are independent: the sum's gradient is each image's
        score.backward()
    finally:
        handle.remove()
    acts, grads = saved["activations"].detach(), saved["gradients"]
    if reshape is not None:
        acts, grads = reshape(acts), reshape(grads)
    weights = grads.mean(dim=(2, 3), keepdim=True)  # one weight per channel: its average gradient
    cam = F.relu((weights * acts).sum(dim=1))  # weighted sum of the feature maps, negatives dropped
    cam = cam - cam.amin(dim=(1, 2), keepdim=True)
    cam = cam / cam.amax(dim=(1, 2), keepdim=True).clamp_min(1e-7)
    return F.interpolate(cam[:, None], size=pixels.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
