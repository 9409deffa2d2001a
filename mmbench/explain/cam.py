"""The CAM family (Grad-CAM, Grad-CAM++, HiResCAM, ScoreCAM, EigenCAM, LayerCAM), run by the
maintained pytorch-grad-cam package; mmbench adds only what makes it cheap and safe to call from a
shared, long-lived pipeline:

* one CAM object per (model, layer, method), cached on the adapter; its hooks record only while
  *this* thread explains (otherwise every ordinary forward of the shared model would append an
  activation to the cached object's list);
* the model's weights are frozen during the call and the gradient flows from the input instead,
  so backward computes activation gradients only, not the unused weight gradients;
* ``shifts``: test-time shift averaging through the library's own ``aug_smooth`` mechanism (a
  ttach transform that shifts the input by fractions of the patch stride and shifts each map
  back). A ViT's map lives on its patch grid (8x8 for the tiny CLIP); averaging s x s shifted
  grids gives a map with s times finer resolution.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Iterator

import numpy as np

from .methods import ExplainRequest, Method, MethodResult, register_method

#: method id -> (pytorch_grad_cam class name, label, description, reference, class-sensitive)
CAM_METHODS: dict[str, tuple[str, str, str, str, bool]] = {
    "gradcam": ("GradCAM", "Grad-CAM", "Feature maps weighted by their spatially averaged gradients.",
                "Selvaraju et al. 2017, arXiv:1610.02391", True),
    "gradcam++": ("GradCAMPlusPlus", "Grad-CAM++", "Grad-CAM with higher-order gradient weights; better for "
                  "several instances of a class.", "Chattopadhay et al. 2018, arXiv:1710.11063", True),
    "hirescam": ("HiResCAM", "HiResCAM", "Element-wise gradient x activation, summed over channels "
                 "(faithful to the model's computation).", "Draelos & Carin 2020, arXiv:2011.08891", True),
    "scorecam": ("ScoreCAM", "Score-CAM", "Each feature map masks the input; weights are the target's scores "
                 "(no gradients, one forward pass per channel: slow).", "Wang et al. 2020, arXiv:1910.01279", True),
    "eigencam": ("EigenCAM", "Eigen-CAM", "First principal component of the feature maps; the same map for "
                 "every target.", "Muhammad & Yeasin 2020, arXiv:2008.00299", False),
    "layercam": ("LayerCAM", "LayerCAM", "Activations weighted by their positive gradients, per location.",
                 "Jiang et al. 2021, IEEE TIP 30", True),
}

_HOOK_OWNER = threading.local()


def _cam_classes() -> Any:
    import pytorch_grad_cam

    return pytorch_grad_cam


def _silence_score_cam_progress() -> None:
    """ScoreCAM wraps its loop in tqdm; a library should not draw progress bars on stderr."""
    import pytorch_grad_cam.score_cam as score_cam

    if getattr(score_cam.tqdm, "__name__", "") != "mmbench_quiet_tqdm":
        class _Quiet:
            __name__ = "mmbench_quiet_tqdm"

            @staticmethod
            def tqdm(iterable: Any, *args: Any, **kwargs: Any) -> Any:
                return iterable

        score_cam.tqdm = _Quiet()


def _gated_activations_class() -> type:
    from pytorch_grad_cam.activations_and_gradients import ActivationsAndGradients

    class GatedActivationsAndGradients(ActivationsAndGradients):
        """The library's hook recorder, recording only inside :func:`_recording` on this thread."""

        def save_activation(self, module: Any, input: Any, output: Any) -> None:
            if getattr(_HOOK_OWNER, "recorder", None) is self:
                super().save_activation(module, input, output)

        def save_gradient(self, module: Any, input: Any, output: Any) -> None:
            if getattr(_HOOK_OWNER, "recorder", None) is self:
                super().save_gradient(module, input, output)

    return GatedActivationsAndGradients


@contextlib.contextmanager
def _recording(cam: Any) -> Iterator[None]:
    _HOOK_OWNER.recorder = cam.activations_and_grads
    try:
        yield
    finally:
        _HOOK_OWNER.recorder = None
        cam.activations_and_grads.clear()  # drop the batch's activations and gradients now


@contextlib.contextmanager
def frozen_weights(module: Any) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on every parameter (restored afterwards)."""
    params = [p for p in module.parameters() if p.requires_grad]
    for p in params:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in params:
            p.requires_grad_(True)


def get_cam(adapter: Any, method: str, layer: str) -> Any:
    """The cached pytorch-grad-cam object for ``(method, layer)`` on this adapter's model."""
    key = ("cam", method, layer)
    cam = adapter.cache.get(key)
    if cam is None:
        cls = getattr(_cam_classes(), CAM_METHODS[method][0])
        module = adapter.layers[layer]
        cam = cls(model=adapter.image_model, target_layers=[module], reshape_transform=adapter.reshape_transform)
        cam.activations_and_grads.release()
        cam.activations_and_grads = _gated_activations_class()(adapter.image_model, [module],
                                                                adapter.reshape_transform, cam.detach)
        # Gradients flow from the input while the weights are frozen (see frozen_weights).
        cam.compute_input_gradient = cam.uses_gradients
        if method == "scorecam":
            _silence_score_cam_progress()
        adapter.cache[key] = cam
    return cam


def shift_transforms(stride: int, shifts: int) -> Any:
    """ttach transforms shifting the input by ``k * stride // shifts`` pixels (k < shifts) along
    each axis; the unshifted pass runs last so the library's ``cam.outputs`` belong to it."""
    import torch.nn.functional as F
    import ttach

    steps = sorted({round(k * stride / shifts) for k in range(shifts)})
    offsets = sorted({(dy, dx) for dy in steps for dx in steps}, reverse=True)

    class Shift(ttach.base.DualTransform):
        identity_param = (0, 0)

        def __init__(self) -> None:
            super().__init__("offset", offsets)

        def apply_aug_image(self, image: Any, offset: tuple[int, int] = (0, 0), **kwargs: Any) -> Any:
            dy, dx = offset
            if not (dy or dx):
                return image
            h, w = image.shape[-2:]
            return F.pad(image, (dx, 0, dy, 0), mode="replicate")[..., :h, :w]

        def apply_deaug_mask(self, mask: Any, offset: tuple[int, int] = (0, 0), **kwargs: Any) -> Any:
            dy, dx = offset
            if not (dy or dx):
                return mask
            return F.pad(mask[..., dy:, dx:], (0, dx, 0, dy), mode="replicate")

    return ttach.Compose([Shift()])


def run_cam(method: str, request: ExplainRequest) -> MethodResult:
    """Run one CAM method on a batch (the body of every CAM entry in the registry)."""
    import torch

    adapter = request.adapter
    options = request.options
    shifts = int(options.get("shifts") or 1)
    stride = adapter.patch_size
    with adapter.lock:
        cam = get_cam(adapter, method, request.layer)
        if options.get("batch_size"):
            cam.batch_size = int(options["batch_size"])  # ScoreCAM's forward batch
        pixels = request.pixels
        if method == "scorecam" and pixels.dtype != torch.float32:
            from ..errors import InvalidInputError

            raise InvalidInputError("ScoreCAM needs the model in float32 (pytorch-grad-cam masks the input in "
                                    f"float32; this model runs in {pixels.dtype}).",
                                    hint="Load the pipeline with dtype='fp32', or use another method.")
        smooth = shifts > 1 and stride is not None and stride > 1
        if smooth:
            key = ("shifts", stride, shifts)
            cam.tta_transforms = adapter.cache.get(key) or adapter.cache.setdefault(key, shift_transforms(stride, shifts))
        with frozen_weights(adapter.image_model), _recording(cam):
            maps = cam(input_tensor=pixels, targets=list(request.targets), aug_smooth=smooth)
        outputs = getattr(cam, "outputs", None)
        target_scores = None
        if outputs is not None and len(outputs) == len(request.targets):
            with torch.no_grad():
                target_scores = [float(t(o)) for t, o in zip(request.targets, outputs.detach())]
        cam.outputs = None  # do not keep the batch's graph alive
    meta = {"library": "pytorch-grad-cam", "class": CAM_METHODS[method][0]}
    if smooth:
        meta["shifts"] = shifts
    return MethodResult(np.asarray(maps, dtype=np.float32), meta=meta, target_scores=target_scores)


def _register() -> None:
    for name, (_cls, label, description, reference, sensitive) in CAM_METHODS.items():
        options: dict[str, Any] = {"shifts": None}
        if name == "scorecam":
            options["batch_size"] = 64
        register_method(Method(
            name=name, run=lambda request, _name=name: run_cam(_name, request), label=label, description=description,
            family="cam", uses_layer=True, options=options, class_sensitive=sensitive, reference=reference),
            replace=True)


_register()
