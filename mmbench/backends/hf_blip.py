"""transformers BLIP: captioning (``BlipForConditionalGeneration``, e.g. the online default
``Salesforce/blip-image-captioning-base``) and visual question answering (``BlipForQuestionAnswering``,
``Salesforce/blip-vqa-base``).

Captioning follows the interface of :class:`~mmbench.backends.tiny_captioner.TinyCaptionerBackend`:
``encode`` (the ViT's tokens, once per image), ``generate`` (``text_decoder.generate`` with
greedy / beam / sampling settings), ``teacher_force`` (one decoder pass over the chosen tokens with
``output_attentions=True``: token probabilities and the cross-attention of every layer; BLIP's
attention is always computed explicitly, so transformers returns it).

Checkpoints load from the local Hugging Face cache or the hub (safetensors first, never remote
code); on a GPU the model runs in float16 (registry option ``half_dtype``).

Test models: ``options={"config": {"text_config": {...}, "vision_config": {...}}, "vocab_file": path,
"seed": 0}`` builds a random-weight model with a ``BertTokenizer`` read from ``vocab_file`` (BLIP's
tokenizer is BERT's plus a ``[DEC]`` beginning-of-caption token, added here) and a
``BlipImageProcessor`` at the vision config's image size: nothing is downloaded.
"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np

from ..registry import ModelSpec
from . import _hub

log = logging.getLogger("mmbench")

RANDOM_NOTE = "random weights (test model, not pretrained)"


def _seeded(seed: int | None):
    """A context that makes transformers' sampling (global RNG) reproducible for ``seed``."""
    import contextlib

    import torch

    if seed is None:
        return contextlib.nullcontext()

    @contextlib.contextmanager
    def fork():
        devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(int(seed))
            yield

    return fork()


class _BlipCommon:
    note = ""
    closed_vocabulary = False
    supports_prompt = True

    def __init__(self, spec: ModelSpec, model: Any, processor: Any, device: Any, dtype: Any, note: str = "") -> None:
        self.spec, self.device, self.dtype, self.note = spec, device, dtype, note
        self.processor, self.tokenizer = processor, processor.tokenizer
        self.model = model.to(device=device, dtype=dtype).eval()
        vision = model.config.vision_config
        n = int(vision.image_size) // int(vision.patch_size)
        self.grid = (n, n)
        self.bos, self.sep, self.pad = self.special_ids(model.config)

    @staticmethod
    def special_ids(config: Any) -> tuple[int, int, int]:
        """(beginning of caption, end of caption, padding) token ids."""
        text = config.text_config
        return int(text.bos_token_id), int(text.sep_token_id), int(text.pad_token_id)

    def unknown_words(self, text: str) -> list[str]:
        return []

    def pixels(self, images: Sequence[Any]) -> Any:
        px = self.processor.image_processor(images=list(images), return_tensors="pt")["pixel_values"]
        return px.to(self.device, self.dtype)

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return [t if t is not None else f"<{i}>" for i, t in
                zip(ids, self.tokenizer.convert_ids_to_tokens([int(i) for i in ids]))]

    def words(self, ids: Sequence[int]) -> list[tuple[str, list[int]]]:
        """Word pieces grouped into words: ``("playing", [3, 4])`` for ``play`` + ``##ing``."""
        out: list[tuple[str, list[int]]] = []
        for i, tok in enumerate(self.tokens(ids)):
            if tok.startswith("##") and out:
                out[-1] = (out[-1][0] + tok[2:], out[-1][1] + [i])
            else:
                out.append((tok, [i]))
        return out

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=True).strip()

    def torch_modules(self) -> list:
        return [self.model]


class BlipCaptionBackend(_BlipCommon):
    """A loaded ``BlipForConditionalGeneration`` and its processor."""

    def encode(self, images: Sequence[Any]) -> Any:
        import torch

        with torch.inference_mode():
            return self.model.vision_model(pixel_values=self.pixels(images))[0]

    def encode_prompt(self, prompt: str) -> list[int]:
        return [int(i) for i in self.tokenizer(prompt, add_special_tokens=False)["input_ids"]] if prompt else []

    def prompt_ids(self, prompt: str) -> list[int]:
        """``[DEC] prompt`` (the processor's [CLS] replaced by BLIP's beginning-of-caption token)."""
        return [self.bos] + self.encode_prompt(prompt)

    def generate(self, features: Any, *, prompt: str = "", question: str = "", num_beams: int = 1,
                 max_new_tokens: int = 30, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 generator: Any = None, seed: int | None = None) -> list[list[int]]:
        import torch

        prefix = self.prompt_ids(prompt)
        b = features.shape[0]
        ids = torch.tensor([prefix] * b, dtype=torch.long, device=features.device)
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "num_beams": int(num_beams),
                                  "do_sample": bool(do_sample)}
        if do_sample:
            kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
        with torch.inference_mode(), _seeded(seed if do_sample else None):
            out = self.model.text_decoder.generate(
                input_ids=ids, eos_token_id=self.sep, pad_token_id=self.pad, encoder_hidden_states=features,
                encoder_attention_mask=torch.ones(features.shape[:2], dtype=torch.long, device=features.device),
                **kwargs)
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

        prefix = self.prompt_ids(prompt)
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros(0, np.float32), ({} if attention else None)
        inp = torch.tensor([prefix + ids[:-1]], dtype=torch.long, device=features.device)
        with torch.inference_mode():
            out = self.model.text_decoder(input_ids=inp, encoder_hidden_states=features[:1],
                                          output_attentions=attention, return_dict=True)
        probs = out.logits[0, len(prefix) - 1:].float().softmax(-1)
        chosen = probs[torch.arange(len(ids)), torch.tensor(ids, device=probs.device)].cpu().numpy()
        records = None
        if attention:
            records = {f"text_decoder.bert.encoder.layer.{i}.crossattention": [a.detach().float().cpu()]
                       for i, a in enumerate(out.cross_attentions)}
        return chosen, records


class BlipVqaBackend(_BlipCommon):
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
                ids = gen[0, 1:].tolist()
                if self.sep in ids:
                    ids = ids[:ids.index(self.sep)]
                ids = [t for t in ids if t != self.pad]
                if ids:
                    inp = torch.tensor([[start] + ids[:-1]], dtype=torch.long, device=self.device)
                    logits = self.model.text_decoder(input_ids=inp, encoder_hidden_states=q, return_dict=True).logits
                    p = logits[0].float().softmax(-1)[torch.arange(len(ids)), torch.tensor(ids)].cpu().numpy()
                else:
                    p = np.zeros(0, np.float32)
            out.append((ids, p))
        return out


# ----------------------------------------------------------------------------- loading
def _dtype(spec: ModelSpec, device: Any, dtype: Any) -> Any:
    import torch

    if torch.device(device).type != "cpu" and dtype == torch.bfloat16 and spec.options.get("half_dtype") == "float16":
        return torch.float16
    return dtype


def load_captioner(spec: ModelSpec, device: Any, dtype: Any) -> BlipCaptionBackend:
    """``BlipForConditionalGeneration`` for the ``image-to-text`` pipeline."""
    from transformers import BlipForConditionalGeneration

    _hub.require_package(spec, "transformers")
    dtype = _dtype(spec, device, dtype)
    if "config" in spec.options:
        model, processor = _from_config(spec.options, BlipForConditionalGeneration)
        return BlipCaptionBackend(spec, model, processor, device, dtype, note=RANDOM_NOTE)
    model, processor = _from_pretrained(spec, BlipForConditionalGeneration)
    return BlipCaptionBackend(spec, model, processor, device, dtype)


def load_vqa(spec: ModelSpec, device: Any, dtype: Any) -> BlipVqaBackend:
    """``BlipForQuestionAnswering`` for the ``visual-question-answering`` pipeline."""
    from transformers import BlipForQuestionAnswering

    _hub.require_package(spec, "transformers")
    dtype = _dtype(spec, device, dtype)
    if "config" in spec.options:
        model, processor = _from_config(spec.options, BlipForQuestionAnswering)
        return BlipVqaBackend(spec, model, processor, device, dtype, note=RANDOM_NOTE)
    model, processor = _from_pretrained(spec, BlipForQuestionAnswering)
    return BlipVqaBackend(spec, model, processor, device, dtype)


def _from_pretrained(spec: ModelSpec, cls: Any) -> tuple[Any, Any]:
    import torch
    from transformers import BlipProcessor

    from .hf_clip_backend import _local_only

    source = spec.source
    local_only, why = _local_only(source)
    what = f"the transformers BLIP checkpoint '{source}'"
    try:
        try:
            model = cls.from_pretrained(source, use_safetensors=True, local_files_only=local_only, dtype=torch.float32)
        except OSError as err:
            log.info("'%s': no safetensors weights (%s); trying its PyTorch .bin weights.", source,
                     _hub.describe_error(err))
            model = cls.from_pretrained(source, local_files_only=local_only, dtype=torch.float32)
        processor = BlipProcessor.from_pretrained(source, local_files_only=local_only)
    except _hub.weight_errors() as err:
        reason = (f"it is not (completely) in the local Hugging Face cache and {why}" if why
                  else _hub.describe_error(err))
        raise _hub.unavailable(spec, what, reason) from err
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
