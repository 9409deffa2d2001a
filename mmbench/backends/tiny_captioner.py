"""Backend of mmbench's offline captioner / VQA model (:mod:`mmbench.models.tiny_captioner`).

The decoder's weights live in ``assets/models/mmbench-tiny-captioner``; its image encoder is the
shipped tiny CLIP's vision tower, loaded through the registry and checked against the SHA-256 the
decoder was trained with (a retrained tiny CLIP needs a retrained captioner). The same backend
serves the ``image-to-text`` and the ``visual-question-answering`` pipelines: a caption is the
answer to the empty question.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError, ModelUnavailableError
from ..registry import ModelSpec, get_spec


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_encoder(name: str = "mmbench-tiny-clip", device: Any = "cpu") -> tuple[Any, str]:
    """The frozen image encoder (a :class:`~mmbench.models.tiny_clip.TinyClip`) and the SHA-256 of its weights."""
    from ..models.tiny_clip import TinyClip

    spec = get_spec(name)
    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    weights = None if folder is None else folder / "model.safetensors"
    if weights is None or not weights.is_file():
        raise ModelUnavailableError(f"The captioner's image encoder '{name}' is missing (looked in {folder}).",
                                    model=name, hint=spec.how_to_get())
    clip = TinyClip.load(folder, device="cpu").to(device).eval()
    for p in clip.parameters():
        p.requires_grad_(False)
    return clip, file_sha256(weights)


class TinyCaptionerBackend:
    """Runs the tiny captioner: encode images once, then generate or score token sequences.

    The interface the captioning and VQA pipelines use (shared with the BLIP backends):
    ``encode``, ``generate``, ``teacher_force``, ``tokens``, ``words``, ``decode``, ``unknown_words``.
    """

    note = ""
    #: the model writes into a closed vocabulary: a prompt or question must use its words
    closed_vocabulary = True
    supports_prompt = True

    def __init__(self, model: Any, encoder: Any, spec: ModelSpec, device: Any, dtype: Any) -> None:
        self.model, self.encoder, self.spec, self.device, self.dtype = model, encoder, spec, device, dtype
        self.tokenizer = model.tokenizer
        self.grid = (model.config.grid, model.config.grid)

    # -- images ---------------------------------------------------------------------------------
    def encode(self, images: Sequence[Any]) -> Any:
        """PIL images -> tiny CLIP vision tokens ``(B, 1 + 64, 160)`` (the decoder's memory)."""
        import torch

        with torch.inference_mode():
            pixels = self.encoder.preprocess(list(images)).to(self.device, self.dtype)
            return self.encoder.visual(pixels)

    # -- text -----------------------------------------------------------------------------------
    def unknown_words(self, text: str) -> list[str]:
        return self.tokenizer.unknown_words(text)

    def check_words(self, text: str, what: str) -> None:
        unknown = self.unknown_words(text)
        if unknown:
            shown = ", ".join(repr(w) for w in dict.fromkeys(unknown))
            raise InvalidInputError(
                f"The {what} uses words that {self.spec.name} does not know: {shown}.",
                hint="The offline model knows only the procedural world's words (shapes, colours, sizes, "
                     "left of / right of / above / below, how many, what colour / shape, is there...).")

    def encode_prompt(self, prompt: str) -> list[int]:
        return self.tokenizer.encode(prompt)

    def prefix(self, question: str = "", prompt: str = "") -> list[int]:
        return self.tokenizer.prefix(question, prompt)

    def tokens(self, ids: Sequence[int]) -> list[str]:
        return self.tokenizer.tokens(ids)

    def words(self, ids: Sequence[int]) -> list[tuple[str, list[int]]]:
        """``(word, [token positions])`` per word: one token per word here."""
        return [(t, [i]) for i, t in enumerate(self.tokens(ids))]

    def decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(ids)

    # -- model ------------------------------------------------------------------------------------
    def generate(self, features: Any, *, question: str = "", prompt: str = "", num_beams: int = 1,
                 max_new_tokens: int = 30, do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0,
                 generator: Any = None, seed: int | None = None) -> list[list[int]]:
        import torch

        with torch.inference_mode():
            return self.model.generate(features, self.prefix(question, prompt), max_new_tokens=max_new_tokens,
                                       num_beams=num_beams, do_sample=do_sample, temperature=temperature,
                                       top_p=top_p, generator=generator)

    def teacher_force(self, features: Any, ids: Sequence[int], *, question: str = "", prompt: str = "",
                      attention: bool = True) -> tuple[np.ndarray, dict[str, list[Any]] | None]:
        """Probability of each of ``ids`` given the image and the prefix, and (``attention``) the
        cross-attention probabilities ``{module: [(1, heads, L, 1 + 64)]}`` of one pass, whose last
        ``len(ids)`` rows are the positions that wrote each id."""
        import torch

        from ..models.attention import CrossAttentionTap

        prefix = self.prefix(question, prompt)
        ids = [int(i) for i in ids]
        if not ids:
            return np.zeros(0, np.float32), ({} if attention else None)
        inp = torch.tensor([prefix + ids[:-1]], dtype=torch.long, device=features.device)
        with torch.inference_mode():
            if attention:
                with CrossAttentionTap(self.model, self.model.CROSS_ATTENTION) as rec:
                    logits = self.model(features[:1], inp)
                records = {k: list(v) for k, v in rec.records.items()}
            else:
                logits, records = self.model(features[:1], inp), None
        probs = logits[0, len(prefix) - 1:].float().softmax(-1)
        chosen = probs[torch.arange(len(ids)), torch.tensor(ids, device=probs.device)]
        return chosen.cpu().numpy(), records

    def answer(self, images: Sequence[Any], questions: Sequence[str], *, num_beams: int = 1,
               max_new_tokens: int = 10) -> list[tuple[list[int], np.ndarray]]:
        """For each (image, question): the answer's token ids and their probabilities. Questions of
        one length are decoded together."""
        import torch

        for q in questions:
            self.check_words(q, "question")
        features = self.encode(images)
        prefixes = [self.prefix(q) for q in questions]
        out: list[tuple[list[int], np.ndarray]] = [([], np.zeros(0, np.float32))] * len(questions)
        by_length: dict[int, list[int]] = {}
        for i, p in enumerate(prefixes):
            by_length.setdefault(len(p), []).append(i)
        with torch.inference_mode():
            for idx in by_length.values():
                ids = self.model.generate(features[idx], [prefixes[i] for i in idx], max_new_tokens=max_new_tokens,
                                          num_beams=num_beams)
                for i, seq in zip(idx, ids):
                    probs, _ = self.teacher_force(features[i:i + 1], seq, question=questions[i], attention=False)
                    out[i] = (seq, probs)
        return out

    def torch_modules(self) -> list:
        return [self.model, self.encoder]


def load(spec: ModelSpec, device: Any, dtype: Any) -> TinyCaptionerBackend:
    """Load the decoder from ``spec``'s assets (or ``options["weights"]``) and its frozen encoder."""
    from ..models.tiny_captioner import TinyCaptioner

    folder = Path(spec.options["weights"]) if "weights" in spec.options else spec.assets_path
    if folder is None or not (folder / "model.safetensors").is_file():
        raise ModelUnavailableError(f"The weights of '{spec.name}' are missing (looked in {folder}).",
                                    model=spec.name, hint=spec.how_to_get())
    model = TinyCaptioner.load(folder, device="cpu")
    encoder, sha = load_encoder(model.config.encoder)
    if model.config.encoder_sha256 and sha != model.config.encoder_sha256:
        raise ModelUnavailableError(
            f"'{spec.name}' was trained on another version of its image encoder '{model.config.encoder}' "
            f"(weights SHA-256 {sha[:12]}…, expected {model.config.encoder_sha256[:12]}…); its captions would be "
            "meaningless.", model=spec.name,
            hint="Retrain it on the current encoder with `mmbench train tiny-captioner`, or restore the encoder's "
                 "weights (git checkout -- assets/models/mmbench-tiny-clip).")
    return TinyCaptionerBackend(model.to(device, dtype), encoder.to(device, dtype), spec, device, dtype)
