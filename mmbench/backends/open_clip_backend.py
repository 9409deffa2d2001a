"""open_clip backend: any ``(arch, pretrained tag)`` pair open_clip knows, behind mmbench's CLIP contract.

Weights come from the local Hugging Face cache when present (safetensors first, as open_clip
itself prefers), else from the hub; anything that stops us obtaining them becomes a
:class:`~mmbench.errors.ModelUnavailableError`, quickly, so ``mmbench.pipeline`` can fall back to
the offline tier. Registry ``options``:

* ``{"arch": "ViT-B-32", "pretrained": "laion2b_s34b_b79k"}`` — a pretrained tag (or a local
  checkpoint file path) of an open_clip architecture;
* ``{"arch": "ViT-B-32", "pretrained": None}`` — that architecture with random weights;
* ``{"config": {...open_clip model config...}, "preprocess": {...}, "seed": 0}`` — a model
  built from a config dict with random weights (tiny test models); ``preprocess`` optionally
  overrides open_clip's preprocessing config (mean, std, interpolation, resize_mode).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
from typing import Any, Iterator

from ..errors import UnknownModelError
from ..registry import ModelSpec
from . import _hub


class OpenClipBackend:
    """A loaded open_clip model with its own preprocessing transform and tokenizer.

    Attributes:
        model: the ``open_clip`` model (``CLIP`` / ``CustomTextCLIP``), in eval mode.
        preprocess: open_clip's validation transform (PIL image -> ``(3, H, W)`` tensor).
        tokenizer: open_clip's tokenizer (list of str -> ``(M, context_length)`` token ids).
    """

    def __init__(self, spec: ModelSpec, model: Any, preprocess: Any, tokenizer: Any, device: Any, dtype: Any,
                 note: str = "") -> None:
        import torch

        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.note = note
        self.preprocess = preprocess
        self.tokenizer = tokenizer
        with torch.no_grad():  # read in fp32, before a cast to half precision rounds it
            self.logit_scale = float(model.logit_scale.detach().float().exp().reshape(-1)[0])
        self.embed_dim = int(getattr(model.visual, "output_dim", 0) or _probe_embed_dim(model))
        self.model = model.to(device=device, dtype=dtype).eval()

    def preprocess_images(self, images: list) -> Any:
        import torch

        return torch.stack([self.preprocess(im) for im in images]).to(self.device, self.dtype)

    def tokenize(self, texts: list[str]) -> Any:
        return self.tokenizer(list(texts)).to(self.device)

    def encode_images(self, pixel_values: Any) -> Any:
        return self.model.encode_image(pixel_values)

    def encode_texts(self, tokens: Any) -> Any:
        return self.model.encode_text(tokens)

    def torch_modules(self) -> list:
        return [self.model]

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain` (layers, targets, token-grid reshape)."""
        from .adapters import open_clip_adapter

        return open_clip_adapter(self)

    def __repr__(self) -> str:
        return f"OpenClipBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def load(spec: ModelSpec, device: Any, dtype: Any) -> OpenClipBackend:
    """Build the backend for ``spec`` (see the module docstring for the accepted options)."""
    try:
        import open_clip  # noqa: F401
    except ImportError as err:
        from ..errors import DependencyError

        raise DependencyError(f"'{spec.name}' needs the open_clip package.", model=spec.name,
                              hint="pip install open_clip_torch") from err
    opts = spec.options
    if "config" in opts:
        model, preprocess, tokenizer = _from_config(opts["config"], opts.get("preprocess") or {}, opts.get("seed", 0))
        return OpenClipBackend(spec, model, preprocess, tokenizer, device, dtype, note=_hub.RANDOM_NOTE)
    arch = opts.get("arch")
    if not arch:
        raise UnknownModelError(f"Registry row '{spec.name}' (backend open_clip) needs options.arch or options.config.")
    if ":" in arch:  # 'hf-hub:' / 'local-dir:' schemas would bypass the cache and fast-fail logic below
        raise UnknownModelError(f"Registry row '{spec.name}': options.arch must be an open_clip architecture name "
                                f"such as 'ViT-B-32', not {arch!r}.",
                                hint="Give the checkpoint as options.pretrained (a pretrained tag or a local file).")
    pretrained = opts.get("pretrained")
    if not pretrained:
        model, preprocess, tokenizer = _create(arch, None, {}, seed=opts.get("seed", 0))
        return OpenClipBackend(spec, model, preprocess, tokenizer, device, dtype, note=_hub.RANDOM_NOTE)
    checkpoint, preprocess_cfg = _resolve_checkpoint(spec, arch, str(pretrained))
    try:
        model, preprocess, tokenizer = _create(arch, checkpoint, preprocess_cfg)
    except _hub.weight_errors() as err:  # unreadable file, or a tokenizer that needs the hub
        what = f"open_clip {arch} '{pretrained}' ({checkpoint})"
        raise _hub.unavailable(spec, what, _hub.describe_error(err)) from err
    return OpenClipBackend(spec, model, preprocess, tokenizer, device, dtype)


def _resolve_checkpoint(spec: ModelSpec, arch: str, pretrained: str) -> tuple[str, dict]:
    """Local path of the checkpoint for ``pretrained`` (a tag or a file) and its preprocessing config.

    Looks in the HF cache first, so a cached model loads with no network request at all; only
    then downloads, after a quick reachability check (see :mod:`mmbench.backends._hub`).
    """
    from open_clip import pretrained as oc_pretrained
    from open_clip.constants import HF_WEIGHTS_NAME
    from open_clip.transform import merge_preprocess_dict

    cfg = oc_pretrained.get_pretrained_cfg(arch, pretrained)
    what = f"open_clip weights {arch} '{pretrained}'"
    if not cfg:
        if os.path.isfile(pretrained):
            return pretrained, {}
        if os.sep in pretrained or pretrained.endswith((".safetensors", ".bin", ".pt", ".pth")):
            raise _hub.unavailable(spec, what, f"the checkpoint file {pretrained} does not exist")
        tags = oc_pretrained.list_pretrained_tags_by_model(arch)
        raise UnknownModelError(f"open_clip has no pretrained tag '{pretrained}' for architecture '{arch}' "
                                f"(registry row '{spec.name}').",
                                hint=f"Known tags: {', '.join(tags) or 'none'}.")
    preprocess_cfg = merge_preprocess_dict({}, cfg)
    if cfg.get("file"):
        return cfg["file"], preprocess_cfg
    hf_hub = cfg.get("hf_hub", "")
    if hf_hub:
        repo_id, filename = os.path.split(hf_hub)
        filename = filename or HF_WEIGHTS_NAME
        what = f"open_clip weights {arch} '{pretrained}' (hub repo {repo_id})"
        for candidate in [*_safetensors_twins(filename), filename]:
            path = _hub.cached_hub_file(repo_id, candidate)
            if path:
                return path, preprocess_cfg
        _hub.require_hub(spec, what)
        try:
            return oc_pretrained.download_pretrained_from_hf(repo_id, filename=filename), preprocess_cfg
        except _hub.weight_errors() as err:
            raise _hub.unavailable(spec, what, _hub.describe_error(err)) from err
    # A URL-only tag (a few old checkpoints): open_clip keeps its own cache in ~/.cache/clip.
    url = cfg.get("url", "")
    if _hub.offline_mode():
        cached = os.path.join(os.path.expanduser("~/.cache/clip"), os.path.basename(url))
        if os.path.isfile(cached):
            return cached, preprocess_cfg
        raise _hub.unavailable(spec, what, f"it is not cached ({cached}) and offline mode is on")
    try:
        return oc_pretrained.download_pretrained(cfg), preprocess_cfg
    except _hub.weight_errors() as err:
        raise _hub.unavailable(spec, f"{what} ({url})", _hub.describe_error(err)) from err


def _safetensors_twins(filename: str) -> list[str]:
    """The safetensors names open_clip tries before a ``.bin``/``.pth`` file (same order as its downloader)."""
    from open_clip.constants import HF_SAFE_WEIGHTS_NAME, HF_WEIGHTS_NAME

    if filename == HF_WEIGHTS_NAME:
        return [HF_SAFE_WEIGHTS_NAME]
    if filename.endswith((".bin", ".pth")):
        return [filename[:-4] + ".safetensors"]
    return []


def _create(model_name: str, checkpoint: str | None, preprocess_cfg: dict, seed: int = 0) -> tuple[Any, Any, Any]:
    """open_clip's factory, on CPU in fp32: model (eval), validation transform, tokenizer."""
    import open_clip
    import torch
    from open_clip.transform import PreprocessCfg, image_transform_v2

    with _quiet_root_logging(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # only matters for random weights; fork_rng leaves the caller's RNG alone
        model = open_clip.create_model(model_name, pretrained=checkpoint, force_preprocess_cfg=preprocess_cfg or None,
                                       device="cpu", precision="fp32", weights_only=True)
        tokenizer = open_clip.get_tokenizer(model_name)
    # Exactly what create_model_and_transforms() builds for evaluation.
    preprocess = image_transform_v2(PreprocessCfg(**model.visual.preprocess_cfg), is_train=False)
    return model.eval(), preprocess, tokenizer


def _from_config(config: dict, preprocess_cfg: dict, seed: int) -> tuple[Any, Any, Any]:
    """Random-weight model from an open_clip model-config dict (``model_configs/*.json`` format).

    Goes through open_clip's public ``local-dir:`` schema so model class, tokenizer and
    preprocessing are chosen by open_clip exactly as for a built-in architecture.
    """
    with tempfile.TemporaryDirectory(prefix="mmbench-openclip-") as folder:
        with open(os.path.join(folder, "open_clip_config.json"), "w", encoding="utf-8") as fh:
            json.dump({"model_cfg": config, "preprocess_cfg": preprocess_cfg}, fh)
        return _create(f"local-dir:{folder}", None, preprocess_cfg, seed=seed)


@contextlib.contextmanager
def _quiet_root_logging() -> Iterator[None]:
    """open_clip logs with ``logging.info(...)`` on the root logger, which calls ``basicConfig()``
    when the root logger has no handler: a library must not configure the application's logging.
    A temporary NullHandler prevents that; messages still reach handlers the user installed."""
    root = logging.getLogger()
    if root.handlers:
        yield
        return
    guard = logging.NullHandler()
    root.addHandler(guard)
    try:
        yield
    finally:
        root.removeHandler(guard)


def _probe_embed_dim(model: Any) -> int:
    import torch

    size = model.visual.image_size
    size = (size, size) if isinstance(size, int) else tuple(size)
    with torch.no_grad():
        return int(model.encode_image(torch.zeros(1, 3, *size)).shape[-1])
