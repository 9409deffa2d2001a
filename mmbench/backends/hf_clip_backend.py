"""transformers CLIP backend: ``CLIPModel`` + ``CLIPProcessor`` behind mmbench's CLIP contract.

Real checkpoints load with ``CLIPModel.from_pretrained(source, use_safetensors=True)`` from the
local Hugging Face cache or the hub (``source`` is a hub id or a local folder), never with
remote code; a repository without safetensors weights falls back to transformers' default loader,
which reads ``.bin`` files with ``torch.load(weights_only=True)``. When the weights cannot be obtained, load() raises
:class:`~mmbench.errors.ModelUnavailableError` within a few seconds (see ``_hub``).

Test models: ``options={"config": {...CLIPConfig kwargs...}, "seed": 0}`` builds a random-weight
``CLIPModel``; its image processor is a ``CLIPImageProcessor`` sized to the config
(``options["image_processor"]`` overrides its kwargs) and its tokenizer is chosen by
``options["tokenizer"]``: ``"open_clip"`` (default) builds the real CLIP BPE tokenizer offline
from the vocabulary open_clip ships in its wheel (see :func:`clip_tokenizer_from_open_clip`);
any other value is a hub id or folder loaded with ``CLIPTokenizer.from_pretrained``.
"""

from __future__ import annotations

from typing import Any

from ..registry import ModelSpec
from . import _hub


class HFClipBackend:
    """A loaded transformers ``CLIPModel`` with its own processor.

    Attributes:
        model: ``transformers.CLIPModel`` in eval mode.
        processor: ``CLIPProcessor`` (``.image_processor`` + ``.tokenizer``).
        tokenizer: the processor's tokenizer.
        context_length: longest token sequence the text tower accepts (longer texts are truncated).
    """

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: Any, dtype: Any, note: str = "") -> None:
        import torch

        self.spec = spec
        self.device = device
        self.dtype = dtype
        self.note = note
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.context_length = int(model.config.text_config.max_position_embeddings)
        self.embed_dim = int(model.config.projection_dim)
        with torch.no_grad():  # read in fp32, before a cast to half precision rounds it
            self.logit_scale = float(model.logit_scale.detach().float().exp())
        self.model = model.to(device=device, dtype=dtype).eval()

    def preprocess_images(self, images: list) -> Any:
        pixels = self.processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return pixels.to(self.device, self.dtype)

    def tokenize(self, texts: list[str]) -> Any:
        tokens = self.tokenizer(list(texts), padding=True, truncation=True, max_length=self.context_length,
                                return_tensors="pt")
        return {k: v.to(self.device) for k, v in tokens.items()}

    def encode_images(self, pixel_values: Any) -> Any:
        return _features(self.model.get_image_features(pixel_values=pixel_values))

    def encode_texts(self, tokens: Any) -> Any:
        return _features(self.model.get_text_features(**tokens))

    def torch_modules(self) -> list:
        return [self.model]

    def explain_adapter(self) -> Any:
        """Hook for :mod:`mmbench.explain` (layers, targets, token-grid reshape)."""
        from .adapters import hf_clip_adapter

        return hf_clip_adapter(self)

    def __repr__(self) -> str:
        return f"HFClipBackend({self.spec.name!r}, device={str(self.device)!r}, dtype={self.dtype})"


def _features(out: Any) -> Any:
    # transformers >= 5 returns a model output whose pooler_output is the projected embedding;
    # older releases return the tensor itself.
    return getattr(out, "pooler_output", out)


def load(spec: ModelSpec, device: Any, dtype: Any) -> HFClipBackend:
    """Build the backend for ``spec`` (see the module docstring for the accepted options)."""
    _hub.require_package(spec, "transformers")
    if "config" in spec.options:
        model, processor = _from_config(spec.options)
        return HFClipBackend(spec, model, processor, device, dtype, note=_hub.RANDOM_NOTE)
    model, processor = _from_pretrained(spec)
    return HFClipBackend(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import CLIPModel, CLIPProcessor

    model, processor = _hub.load_pretrained(spec, CLIPModel, CLIPProcessor, dtype=torch.float32,
                                            what=f"the transformers CLIP checkpoint '{spec.source}'")
    return model, processor


def _from_config(options: dict) -> tuple[Any, Any]:
    """Random-weight CLIPModel from CLIPConfig kwargs, with an offline processor."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    config = CLIPConfig(**options["config"])
    with torch.random.fork_rng(devices=[]):  # reproducible weights without touching the caller's RNG
        torch.manual_seed(int(options.get("seed", 0)))
        model = CLIPModel(config)
    size = int(config.vision_config.image_size)
    image_kwargs = {"size": {"shortest_edge": size}, "crop_size": {"height": size, "width": size},
                    **(options.get("image_processor") or {})}
    image_processor = CLIPImageProcessor(**image_kwargs)
    max_len = int(config.text_config.max_position_embeddings)
    tok_source = options.get("tokenizer", "open_clip")
    if tok_source == "open_clip":
        tokenizer = clip_tokenizer_from_open_clip(model_max_length=max_len)
    else:
        local_only, _ = _hub.local_only(tok_source)
        tokenizer = CLIPTokenizer.from_pretrained(tok_source, local_files_only=local_only, model_max_length=max_len)
    vocab = int(config.text_config.vocab_size)
    if len(tokenizer) > vocab:
        raise ValueError(f"The tokenizer has {len(tokenizer)} tokens but text_config.vocab_size is {vocab}: "
                         "token ids would index past the embedding table.")
    return model.eval(), CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer)


def clip_tokenizer_from_open_clip(model_max_length: int = 77) -> Any:
    """The original CLIP BPE tokenizer as a ``transformers.CLIPTokenizer``, built with no download.

    open_clip's wheel ships OpenAI's BPE merges (``bpe_simple_vocab_16e6.txt.gz``); its
    ``SimpleTokenizer`` derives the 49,408-token vocabulary from them exactly as the hub's
    ``vocab.json``/``merges.txt`` of ``openai/clip-vit-base-patch32`` do. Only the special
    tokens are spelled differently (``<start_of_text>`` vs ``<|startoftext|>``), with the same
    ids (49406, 49407).
    """
    from open_clip.tokenizer import SimpleTokenizer
    from transformers import CLIPTokenizer

    oc = SimpleTokenizer()
    rename = {"<start_of_text>": "<|startoftext|>", "<end_of_text>": "<|endoftext|>"}
    vocab = {rename.get(token, token): idx for token, idx in oc.encoder.items()}
    merges = [pair for pair, _ in sorted(oc.bpe_ranks.items(), key=lambda item: item[1])]
    return CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=model_max_length)
