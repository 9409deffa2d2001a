"""transformers GIT (``GitForCausalLM``, e.g. ``microsoft/git-base-coco``): the second captioning family.

GIT has no cross-attention: the image's CLIP tokens are a *prefix* of one decoder's self-attention
(Wang et al. 2022, "GIT: A Generative Image-to-text Transformer"). A text position's attention to
those prefix tokens plays the part of BLIP's cross-attention, so the per-word maps are the text rows
of every layer's self-attention restricted to the image patch keys; the rest of the interface is
:class:`~mmbench.backends.hf_blip.BlipCaptionBackend`'s (BERT word pieces, the same decoding options).

Test models: ``options={"config": {...GitConfig kwargs with a vision_config...}, "vocab_file": path,
"seed": 0}`` builds a random-weight model with a ``BertTokenizer`` read from ``vocab_file`` and a
``CLIPImageProcessor`` at the vision config's image size: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..registry import ModelSpec
from . import _hub
from .hf_blip import RANDOM_NOTE, _BlipCommon, _dtype, _seeded


class GitCaptionBackend(_BlipCommon):
    """A loaded ``GitForCausalLM`` and its processor."""

    @staticmethod
    def special_ids(config: Any) -> tuple[int, int, int]:
        return int(config.bos_token_id), int(config.eos_token_id), int(config.pad_token_id)

    @property
    def n_image_tokens(self) -> int:
        return self.grid[0] * self.grid[1] + 1  # [CLS] + patches of the CLIP vision tower

    def attention_image(self, image: Any) -> Any:
        """The part of ``image`` the model saw: CLIP preprocessing resizes the short side and crops
        the centre square, so the maps cover that square."""
        w, h = image.size
        side = min(w, h)
        left, top = (w - side) // 2, (h - side) // 2
        return image.crop((left, top, left + side, top + side))

    def encode(self, images: Sequence[Any]) -> Any:
        """Pixel values: GIT's ``generate`` encodes the image itself (once per call)."""
        return self.pixels(images)

    def encode_prompt(self, prompt: str) -> list[int]:
        return [int(i) for i in self.tokenizer(prompt, add_special_tokens=False)["input_ids"]] if prompt else []

    def generate(self, features: Any, *, prompt: str = "", question: str = "", num_beams: int = 1,
                 max_new_tokens: int = 30, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 generator: Any = None, seed: int | None = None) -> list[list[int]]:
        import torch

        prefix = [self.bos] + self.encode_prompt(prompt)
        ids = torch.tensor([prefix] * features.shape[0], dtype=torch.long, device=features.device)
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "num_beams": int(num_beams),
                                  "do_sample": bool(do_sample)}
        if do_sample:
            kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
        with torch.inference_mode(), _seeded(seed if do_sample else None):
            out = self.model.generate(pixel_values=features, input_ids=ids, eos_token_id=self.sep,
                                      pad_token_id=self.pad, **kwargs)
        result = []
        for row in out.tolist():
            new = row[len(prefix):]
            if self.sep in new:
                new = new[:new.index(self.sep)]
            result.append([t for t in new if t != self.pad])
        return result

    def teacher_force(self, features: Any, ids: Sequence[int], *, prompt: str = "", question: str = "",
                      attention: bool = True) -> tuple[np.ndarray, dict[str, list[Any]] | None]:
        import torch

        prefix = [self.bos] + self.encode_prompt(prompt)
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros(0, np.float32), ({} if attention else None)
        inp = torch.tensor([prefix + ids[:-1]], dtype=torch.long, device=features.device)
        with torch.inference_mode():
            out = self.model(pixel_values=features[:1], input_ids=inp, output_attentions=attention, return_dict=True)
        n_img = self.n_image_tokens
        probs = out.logits[0, n_img + len(prefix) - 1:].float().softmax(-1)
        chosen = probs[torch.arange(len(ids)), torch.tensor(ids, device=probs.device)].cpu().numpy()
        records = None
        if attention:  # text rows, image patch keys (the [CLS] image token and the text keys dropped)
            records = {f"git.encoder.layer.{i}.attention": [a[:, :, n_img:, 1:n_img].detach().float().cpu()]
                       for i, a in enumerate(out.attentions)}
        return chosen, records


def load(spec: ModelSpec, device: Any, dtype: Any) -> GitCaptionBackend:
    """``GitForCausalLM`` for the ``image-to-text`` pipeline."""
    _hub.require_package(spec, "transformers")
    dtype = _dtype(spec, device, dtype)
    if "config" in spec.options:
        model, processor = _from_config(spec.options)
        return GitCaptionBackend(spec, model, processor, device, dtype, note=RANDOM_NOTE)
    model, processor = _from_pretrained(spec)
    return GitCaptionBackend(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import logging

    import torch
    from transformers import AutoProcessor, GitForCausalLM

    from . import _hub
    from .hf_clip_backend import _local_only

    source = spec.source
    local_only, why = _local_only(source)
    what = f"the transformers GIT checkpoint '{source}'"
    try:
        try:
            model = GitForCausalLM.from_pretrained(source, use_safetensors=True, local_files_only=local_only,
                                                   dtype=torch.float32, attn_implementation="eager")
        except OSError as err:
            logging.getLogger("mmbench").info("'%s': no safetensors weights (%s); trying its PyTorch .bin weights.",
                                              source, _hub.describe_error(err))
            model = GitForCausalLM.from_pretrained(source, local_files_only=local_only, dtype=torch.float32,
                                                   attn_implementation="eager")
        processor = AutoProcessor.from_pretrained(source, local_files_only=local_only)
    except _hub.weight_errors() as err:
        reason = (f"it is not (completely) in the local Hugging Face cache and {why}" if why
                  else _hub.describe_error(err))
        raise _hub.unavailable(spec, what, reason) from err
    return model.eval(), processor


def _from_config(options: dict) -> tuple[Any, Any]:
    import torch
    from transformers import BertTokenizer, CLIPImageProcessor, GitConfig, GitForCausalLM, GitProcessor

    tokenizer = BertTokenizer(options["vocab_file"], model_max_length=512)
    cfg = dict(options["config"])
    size = int(cfg.get("vision_config", {}).get("image_size", 224))
    cfg = {"vocab_size": len(tokenizer), "bos_token_id": tokenizer.cls_token_id, "eos_token_id": tokenizer.sep_token_id,
           "pad_token_id": tokenizer.pad_token_id, **cfg}
    config = GitConfig(**cfg)
    config._attn_implementation = "eager"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(options.get("seed", 0)))
        model = GitForCausalLM(config)
    image_processor = CLIPImageProcessor(size={"shortest_edge": size}, crop_size={"height": size, "width": size})
    return model.eval(), GitProcessor(image_processor=image_processor, tokenizer=tokenizer)
