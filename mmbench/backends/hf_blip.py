"""transformers BLIP: captioning (``BlipForConditionalGeneration``, e.g. the online default
``Salesforce/blip-image-captioning-base``) and visual question answering (``BlipForQuestionAnswering``,
``Salesforce/blip-vqa-base``).

Captioning follows the interface of :class:`~mmbench.backends.tiny_captioner.TinyCaptionerBackend`:
``encode`` (the ViT's tokens, once per image), ``generate`` (``text_decoder.generate`` with
greedy / beam / sampling settings), ``teacher_force`` (one decoder pass over the chosen tokens with
``output_attentions=True``: token probabilities and the cross-attention of every layer; BLIP's
attention is always computed explicitly, so transformers returns it). What BLIP shares with GIT
lives in :class:`~mmbench.backends.hf_captioner.HFCaptionerBase`.

Checkpoints load from the local Hugging Face cache or the hub (safetensors first, never remote
code); on a GPU the model runs in float16 (registry option ``half_dtype``).

Test models: ``options={"config": {"text_config": {...}, "vision_config": {...}}, "vocab_file": path,
"seed": 0}`` builds a random-weight model with a ``BertTokenizer`` read from ``vocab_file`` (BLIP's
tokenizer is BERT's plus a ``[DEC]`` beginning-of-caption token, added here) and a
``BlipImageProcessor`` at the vision config's image size: nothing is downloaded.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..registry import ModelSpec
from . import _hub
from .hf_captioner import HFCaptionerBase, captioner_dtype


class BlipCaptionBackend(HFCaptionerBase):
    """A loaded ``BlipForConditionalGeneration`` and its processor."""

    def encode(self, images: Sequence[Any]) -> Any:
        import torch

        with torch.inference_mode():
            return self.model.vision_model(pixel_values=self.pixels(images))[0]

    def generate_ids(self, features: Any, input_ids: Any, **kwargs: Any) -> Any:
        import torch

        return self.model.text_decoder.generate(
            input_ids=input_ids, eos_token_id=self.sep, pad_token_id=self.pad, encoder_hidden_states=features,
            encoder_attention_mask=torch.ones(features.shape[:2], dtype=torch.long, device=features.device), **kwargs)

    def forced_logits(self, features: Any, input_ids: Any, n_prefix: int,
                      attention: bool) -> tuple[Any, dict[str, list[Any]] | None]:
        out = self.model.text_decoder(input_ids=input_ids, encoder_hidden_states=features[:1],
                                      output_attentions=attention, return_dict=True)
        records = None
        if attention:
            records = {f"text_decoder.bert.encoder.layer.{i}.crossattention": [a.detach().float().cpu()]
                       for i, a in enumerate(out.cross_attentions)}
        return out.logits[0, n_prefix - 1:], records


class BlipVqaBackend(HFCaptionerBase):
    """A loaded ``BlipForQuestionAnswering``: the question is encoded with the image, the answer decoded."""

    supports_prompt = False

    def answer(self, images: Sequence[Any], questions: Sequence[str], *, num_beams: int = 1,
               max_new_tokens: int = 10) -> list[tuple[list[int], np.ndarray]]:
        """For each (image, question): the answer's token ids and their probabilities."""
        import torch

        out = []
        for image, question in zip(images, questions):  # one by one: BLIP's answer decoder ignores question padding
            enc = self.tokenizer(question, return_tensors="pt").to(self.device)
            with torch.inference_mode():
                image_embeds = self.model.vision_model(pixel_values=self.pixels([image]))[0]
                q = self.model.text_encoder(input_ids=enc["input_ids"], attention_mask=enc["attention_mask"],
                                            encoder_hidden_states=image_embeds, return_dict=False)[0]
                start = int(self.model.decoder_start_token_id)
                bos = torch.full((1, 1), start, dtype=torch.long, device=self.device)
                gen = self.model.text_decoder.generate(input_ids=bos, eos_token_id=self.sep, pad_token_id=self.pad,
                                                       encoder_hidden_states=q, max_new_tokens=int(max_new_tokens),
                                                       num_beams=int(num_beams), do_sample=False)
                ids = self.trim(gen[0].tolist(), 1)
                if ids:
                    inp = torch.tensor([[start] + ids[:-1]], dtype=torch.long, device=self.device)
                    logits = self.model.text_decoder(input_ids=inp, encoder_hidden_states=q, return_dict=True).logits
                    p = logits[0].float().softmax(-1)[torch.arange(len(ids)), torch.tensor(ids)].cpu().numpy()
                else:
                    p = np.zeros(0, np.float32)
            out.append((ids, p))
        return out


# ----------------------------------------------------------------------------- loading
def load_captioner(spec: ModelSpec, device: Any, dtype: Any) -> BlipCaptionBackend:
    """``BlipForConditionalGeneration`` for the ``image-to-text`` pipeline."""
    return _load(spec, device, dtype, "BlipForConditionalGeneration", BlipCaptionBackend)


def load_vqa(spec: ModelSpec, device: Any, dtype: Any) -> BlipVqaBackend:
    """``BlipForQuestionAnswering`` for the ``visual-question-answering`` pipeline."""
    return _load(spec, device, dtype, "BlipForQuestionAnswering", BlipVqaBackend)


def _load(spec: ModelSpec, device: Any, dtype: Any, model_cls_name: str, backend_cls: Any) -> Any:
    _hub.require_package(spec, "transformers")
    import transformers

    model_cls = getattr(transformers, model_cls_name)
    dtype = captioner_dtype(spec, device, dtype)
    if "config" in spec.options:
        model, processor = _from_config(spec.options, model_cls)
        return backend_cls(spec, model, processor, device, dtype, note=_hub.RANDOM_NOTE)
    model, processor = _from_pretrained(spec, model_cls)
    return backend_cls(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec, cls: Any) -> tuple[Any, Any]:
    import torch
    from transformers import BlipProcessor

    model, processor = _hub.load_pretrained(spec, cls, BlipProcessor, dtype=torch.float32,
                                            what=f"the transformers BLIP checkpoint '{spec.source}'")
    return model.eval(), processor


def offline_processor(vocab_file: str, image_size: int) -> Any:
    """A ``BlipProcessor`` built without a download: BERT word pieces from ``vocab_file`` plus the
    ``[DEC]`` token, and BLIP's image normalisation at ``image_size``."""
    from transformers import BertTokenizer, BlipImageProcessor, BlipProcessor

    tokenizer = BertTokenizer(vocab_file, model_max_length=512)
    tokenizer.add_special_tokens({"bos_token": "[DEC]"})
    image_processor = BlipImageProcessor(size={"height": int(image_size), "width": int(image_size)})
    return BlipProcessor(image_processor=image_processor, tokenizer=tokenizer)


def _from_config(options: dict, cls: Any) -> tuple[Any, Any]:
    """Random-weight BLIP from BlipConfig kwargs with an offline processor (see the module docstring)."""
    import torch
    from transformers import BlipConfig

    cfg = dict(options["config"])
    vision = dict(cfg.pop("vision_config", {}))
    text = dict(cfg.pop("text_config", {}))
    processor = offline_processor(options["vocab_file"], int(vision.get("image_size", 384)))
    tok = processor.tokenizer
    text = {"vocab_size": len(tok), "bos_token_id": tok.bos_token_id, "sep_token_id": tok.sep_token_id,
            "pad_token_id": tok.pad_token_id, **text}
    config = BlipConfig(text_config=text, vision_config=vision, **cfg)
    with torch.random.fork_rng(devices=[]):  # reproducible weights without touching the caller's RNG
        torch.manual_seed(int(options.get("seed", 0)))
        model = cls(config)
    return model.eval(), processor
