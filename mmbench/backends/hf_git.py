"""transformers GIT (``GitForCausalLM``, e.g. ``microsoft/git-base-coco``): the second captioning family.

GIT has no cross-attention: the image's CLIP tokens are a *prefix* of one decoder's self-attention
(Wang et al. 2022, "GIT: A Generative Image-to-text Transformer"). A text position's attention to
those prefix tokens plays the part of BLIP's cross-attention, so the per-word maps are the text rows
of every layer's self-attention restricted to the image patch keys; the rest of the interface is
:class:`~mmbench.backends.hf_captioner.HFCaptionerBase`'s, as for BLIP (BERT word pieces, the same
decoding options).

Test models: ``options={"config": {...GitConfig kwargs with a vision_config...}, "vocab_file": path,
"seed": 0}`` builds a random-weight model with a ``BertTokenizer`` read from ``vocab_file`` and a
``CLIPImageProcessor`` at the vision config's image size: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Sequence

from ..registry import ModelSpec
from . import _hub
from .hf_captioner import HFCaptionerBase, captioner_dtype


class GitCaptionBackend(HFCaptionerBase):
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

    def generate_ids(self, features: Any, input_ids: Any, **kwargs: Any) -> Any:
        return self.model.generate(pixel_values=features, input_ids=input_ids, eos_token_id=self.sep,
                                   pad_token_id=self.pad, **kwargs)

    def forced_logits(self, features: Any, input_ids: Any, n_prefix: int,
                      attention: bool) -> tuple[Any, dict[str, list[Any]] | None]:
        out = self.model(pixel_values=features[:1], input_ids=input_ids, output_attentions=attention,
                         return_dict=True)
        n_img = self.n_image_tokens
        records = None
        if attention:  # text rows, image patch keys (the [CLS] image token and the text keys dropped)
            records = {f"git.encoder.layer.{i}.attention": [a[:, :, n_img:, 1:n_img].detach().float().cpu()]
                       for i, a in enumerate(out.attentions)}
        return out.logits[0, n_img + n_prefix - 1:], records


def load(spec: ModelSpec, device: Any, dtype: Any) -> GitCaptionBackend:
    """``GitForCausalLM`` for the ``image-to-text`` pipeline."""
    _hub.require_package(spec, "transformers")
    dtype = captioner_dtype(spec, device, dtype)
    if "config" in spec.options:
        model, processor = _from_config(spec.options)
        return GitCaptionBackend(spec, model, processor, device, dtype, note=_hub.RANDOM_NOTE)
    model, processor = _from_pretrained(spec)
    return GitCaptionBackend(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec) -> tuple[Any, Any]:
    import torch
    from transformers import AutoProcessor, GitForCausalLM

    model, processor = _hub.load_pretrained(spec, GitForCausalLM, AutoProcessor, dtype=torch.float32,
                                            attn_implementation="eager",
                                            what=f"the transformers GIT checkpoint '{spec.source}'")
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
