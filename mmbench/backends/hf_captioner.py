"""The shared base of the transformers captioners (BLIP in :mod:`.hf_blip`, GIT in :mod:`.hf_git`):
word pieces, pixels, decoding options, teacher forcing and seeded sampling. A family module
subclasses :class:`HFCaptionerBase` and supplies the two model calls that differ.
"""

from __future__ import annotations

import contextlib
from typing import Any, ContextManager, Sequence

import numpy as np

from ..registry import ModelSpec


def seeded(seed: int | None) -> ContextManager[None]:
    """A context that makes transformers' sampling (global RNG) reproducible for ``seed``; None: no change."""
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


def captioner_dtype(spec: ModelSpec, device: Any, dtype: Any) -> Any:
    """The dtype a captioner runs in: the device policy's, except float16 instead of bfloat16 on a
    GPU when the registry row says ``half_dtype: float16``."""
    import torch

    if torch.device(device).type != "cpu" and dtype == torch.bfloat16 and spec.options.get("half_dtype") == "float16":
        return torch.float16
    return dtype


class HFCaptionerBase:
    """A loaded transformers captioner (model + processor with a BERT word-piece tokenizer).

    Implements the interface of :class:`~mmbench.backends.tiny_captioner.TinyCaptionerBackend`
    that every family shares: ``pixels``, ``tokens``/``words``/``decode``, ``generate`` (greedy,
    beam or sampling, after an optional prompt) and ``teacher_force`` (token probabilities and
    attention records). A subclass provides ``encode`` and the two model calls
    :meth:`generate_ids` and :meth:`forced_logits`, and may override :meth:`special_ids`.

    Attributes:
        model: the transformers model in eval mode; processor / tokenizer: its processor and tokenizer.
        grid: ``(rows, cols)`` of the vision tower's patch grid.
        bos, sep, pad: beginning-of-caption, end-of-caption and padding token ids.
    """

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

    def encode_prompt(self, prompt: str) -> list[int]:
        return [int(i) for i in self.tokenizer(prompt, add_special_tokens=False)["input_ids"]] if prompt else []

    def prompt_ids(self, prompt: str) -> list[int]:
        """``[beginning of caption] prompt`` (for BLIP, its ``[DEC]`` token replaces the processor's [CLS])."""
        return [self.bos] + self.encode_prompt(prompt)

    def trim(self, row: Sequence[int], n_prefix: int) -> list[int]:
        """The generated ids of ``row``: after the prefix, up to the end-of-caption token, without padding."""
        new = list(row[n_prefix:])
        if self.sep in new:
            new = new[:new.index(self.sep)]
        return [t for t in new if t != self.pad]

    def generate(self, features: Any, *, prompt: str = "", question: str = "", num_beams: int = 1,
                 max_new_tokens: int = 30, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 generator: Any = None, seed: int | None = None) -> list[list[int]]:
        """Caption ids for each image of ``features`` (what :meth:`encode` returned), after ``prompt``."""
        import torch

        prefix = self.prompt_ids(prompt)
        ids = torch.tensor([prefix] * features.shape[0], dtype=torch.long, device=features.device)
        kwargs: dict[str, Any] = {"max_new_tokens": int(max_new_tokens), "num_beams": int(num_beams),
                                  "do_sample": bool(do_sample)}
        if do_sample:
            kwargs.update(temperature=float(temperature), top_p=float(top_p), top_k=0)
        with torch.inference_mode(), seeded(seed if do_sample else None):
            out = self.generate_ids(features, ids, **kwargs)
        return [self.trim(row, len(prefix)) for row in out.tolist()]

    def teacher_force(self, features: Any, ids: Sequence[int], *, prompt: str = "", question: str = "",
                      attention: bool = True) -> tuple[np.ndarray, dict[str, list[Any]] | None]:
        """One decoder pass over ``prompt`` + ``ids`` for the first image: each chosen token's
        probability, and (``attention=True``) the attention records of every layer."""
        import torch

        prefix = self.prompt_ids(prompt)
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros(0, np.float32), ({} if attention else None)
        inp = torch.tensor([prefix + ids[:-1]], dtype=torch.long, device=features.device)
        with torch.inference_mode():
            logits, records = self.forced_logits(features, inp, len(prefix), attention)
        probs = logits.float().softmax(-1)
        chosen = probs[torch.arange(len(ids)), torch.tensor(ids, device=probs.device)].cpu().numpy()
        return chosen, records

    def generate_ids(self, features: Any, input_ids: Any, **kwargs: Any) -> Any:
        """The model's ``generate`` from ``input_ids`` (prefix rows) conditioned on ``features``:
        ``(N, L)`` ids including the prefix. ``kwargs``: decoding options."""
        raise NotImplementedError(f"{type(self).__name__} does not generate captions")

    def forced_logits(self, features: Any, input_ids: Any, n_prefix: int,
                      attention: bool) -> tuple[Any, dict[str, list[Any]] | None]:
        """One forward pass over ``input_ids`` (``(1, L)``: prefix + caption without its last token):
        the logits that predict the caption tokens ``(len(caption), vocab)`` and, when
        ``attention``, ``{layer name: [attention to the image tokens]}``."""
        raise NotImplementedError(f"{type(self).__name__} does not score captions")

    def torch_modules(self) -> list:
        return [self.model]
