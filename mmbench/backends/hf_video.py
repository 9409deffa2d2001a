"""transformers video models behind mmbench's video-classification contract:

* ``transformers_videomae``: ``VideoMAEForVideoClassification`` + ``VideoMAEImageProcessor``
  (e.g. ``MCG-NJU/videomae-base-finetuned-kinetics``: 16 frames, 224x224, Kinetics-400 labels);
* ``transformers_xclip``: ``XCLIPModel`` + ``XCLIPProcessor`` (``microsoft/xclip-base-patch32``:
  8 frames), zero-shot over free-text labels: the video is scored against each label text.

Checkpoints load from the local Hugging Face cache or the hub (safetensors first, never remote
code); when the weights cannot be obtained, :func:`load_videomae` / :func:`load_xclip` raise
:class:`~mmbench.errors.ModelUnavailableError` within seconds, and ``mmbench.pipeline`` falls back
to the offline tiny video model.

Test models: ``options={"config": {...VideoMAEConfig or XCLIPConfig kwargs...}, "seed": 0}``
builds random weights with a processor sized to the config (X-CLIP's tokenizer is CLIP's BPE
built offline from open_clip's vocabulary).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..registry import ModelSpec
from . import _hub
from .hf_clip_backend import clip_tokenizer_from_open_clip


def _frames_list(windows: Any) -> list[list[np.ndarray]]:
    return [list(np.asarray(w)) for w in windows]


class HFVideoMAEBackend:
    """A loaded ``VideoMAEForVideoClassification``: ``window_logits(windows) -> (W, C)``."""

    per_frame = False
    zero_shot = False
    has_audio_model = False
    batch_size = 4
    default_stride = 4  # Kinetics models see 16 frames taken every 4th frame (about 2 s at 30 fps)

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.processor = processor
        id2label = model.config.id2label
        self.labels = [str(id2label.get(i, id2label.get(str(i), f"class {i}"))) for i in range(model.config.num_labels)]
        self.clip_len = int(model.config.num_frames)
        self.model = model.to(device=device, dtype=dtype).eval()

    def pixel_values(self, windows: Any) -> Any:
        pixels = self.processor(_frames_list(windows), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def window_logits(self, windows: Any, labels: Sequence[str] | None = None) -> Any:
        return self.model(pixel_values=self.pixel_values(windows)).logits

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"HFVideoMAEBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


class HFXClipBackend:
    """A loaded ``XCLIPModel``: ``window_logits(windows, labels) -> (W, len(labels))``, zero-shot."""

    per_frame = False
    zero_shot = True
    has_audio_model = False
    labels = None
    batch_size = 4
    default_stride = 8

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.processor = processor
        self.clip_len = int(model.config.vision_config.num_frames)
        self.context_length = int(model.config.text_config.max_position_embeddings)
        self.model = model.to(device=device, dtype=dtype).eval()

    def window_logits(self, windows: Any, labels: Sequence[str] | None = None) -> Any:
        if not labels:
            from ..errors import InvalidInputError

            raise InvalidInputError("X-CLIP is zero-shot: pass the labels to choose between.")
        inputs = self.processor(text=list(labels), videos=_frames_list(windows), return_tensors="pt", padding=True,
                                truncation=True, max_length=self.context_length)
        inputs = {k: (v.to(self.device, self.dtype) if k == "pixel_values" else v.to(self.device))
                  for k, v in inputs.items()}
        return self.model(**inputs).logits_per_video

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"HFXClipBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def _require_transformers(spec: ModelSpec) -> None:
    import importlib.util

    try:
        if importlib.util.find_spec("transformers") is None:
            raise ImportError("transformers")
    except ImportError as err:  # pragma: no cover - transformers is in requirements.txt
        from ..errors import DependencyError

        raise DependencyError(f"'{spec.name}' needs the transformers package.", model=spec.name,
                              hint="pip install transformers") from err


def _pretrained(spec: ModelSpec, model_cls_name: str, processor_cls_name: str, what: str) -> tuple[Any, Any]:
    import os

    local_only, why = _hub.local_only(spec.source)
    if local_only and why and not os.path.isdir(spec.source) and _hub.cached_hub_file(spec.source, "config.json") is None:
        # fail fast (no transformers import, no retries): pipeline() falls back to the offline model at once
        raise _hub.unavailable(spec, what, f"it is not in the local Hugging Face cache and {why}")
    import torch
    import transformers

    model, processor = _hub.load_pretrained(spec, getattr(transformers, model_cls_name),
                                            getattr(transformers, processor_cls_name), dtype=torch.float32, what=what)
    return model.eval(), processor


def _image_processor(size: int, options: dict) -> Any:
    from transformers import VideoMAEImageProcessor

    return VideoMAEImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size},
                                  **(options.get("image_processor") or {}))


def load_videomae(spec: ModelSpec, device: Any, dtype: Any) -> HFVideoMAEBackend:
    """Registry loader of ``transformers_videomae`` rows."""
    _require_transformers(spec)
    if "config" in spec.options:
        import torch
        from transformers import VideoMAEConfig, VideoMAEForVideoClassification

        config = VideoMAEConfig(**spec.options["config"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = VideoMAEForVideoClassification(config).eval()
        return HFVideoMAEBackend(spec, model, _image_processor(int(config.image_size), spec.options), device, dtype,
                                 note=_hub.RANDOM_NOTE)
    model, processor = _pretrained(spec, "VideoMAEForVideoClassification", "VideoMAEImageProcessor",
                                   f"the VideoMAE checkpoint '{spec.source}'")
    return HFVideoMAEBackend(spec, model, processor, device, dtype)


def load_xclip(spec: ModelSpec, device: Any, dtype: Any) -> HFXClipBackend:
    """Registry loader of ``transformers_xclip`` rows."""
    _require_transformers(spec)
    if "config" in spec.options:
        import torch
        from transformers import XCLIPConfig, XCLIPModel, XCLIPProcessor

        config = XCLIPConfig(**spec.options["config"])
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(spec.options.get("seed", 0)))
            model = XCLIPModel(config).eval()
        tokenizer = clip_tokenizer_from_open_clip(model_max_length=int(config.text_config.max_position_embeddings))
        processor = XCLIPProcessor(image_processor=_image_processor(int(config.vision_config.image_size), spec.options),
                                   tokenizer=tokenizer)
        return HFXClipBackend(spec, model, processor, device, dtype, note=_hub.RANDOM_NOTE)
    model, processor = _pretrained(spec, "XCLIPModel", "XCLIPProcessor", f"the X-CLIP checkpoint '{spec.source}'")
    return HFXClipBackend(spec, model, processor, device, dtype)
