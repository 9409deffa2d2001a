"""Image captioning (``image-to-text``, chapter 7.4.1): caption, per-token probabilities and
per-word cross-attention maps.

One pipeline serves every encoder-decoder captioner: BLIP through transformers (online) and
mmbench's tiny captioner (offline). Each call runs three steps:

1. ``preprocess`` — validate the image(s) and decoding options, encode the image once;
2. ``_forward`` — generate token ids (greedy, beam search or sampling), then one teacher-forced
   pass over the chosen tokens for their probabilities and the decoder's cross-attention;
3. ``postprocess`` — tokens -> words, caption text, and one :class:`~mmbench.explain.Explanation`
   per word ("where did the model look when it wrote this word", Xu et al. 2015).

Probabilities are those of the model itself (temperature 1, no top-p), whatever decoding picked
the tokens, so greedy, beam and sampled captions are scored on the same scale.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_image, validate_images, validate_text
from .base import Pipeline

#: Bounds of the decoding options (a web request or a typo should not ask for 10,000 tokens).
MAX_NEW_TOKENS = 100
MAX_BEAMS = 10
MAX_TEMPERATURE = 5.0


@dataclass(frozen=True)
class DecodingOptions:
    """How tokens are chosen. ``num_beams > 1``: beam search; ``do_sample``: sampling from
    ``softmax(logits / temperature)`` within the top-``top_p`` nucleus, reproducible with ``seed``."""

    max_new_tokens: int = 30
    num_beams: int = 1
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None

    @property
    def strategy(self) -> str:
        return "sampling" if self.do_sample else ("beam search" if self.num_beams > 1 else "greedy")

    def as_dict(self) -> dict[str, Any]:
        return {"strategy": self.strategy, **asdict(self)}


def decoding_options(max_new_tokens: Any = 30, num_beams: Any = 1, do_sample: Any = False, temperature: Any = 1.0,
                     top_p: Any = 1.0, seed: Any = None) -> DecodingOptions:
    """Validated :class:`DecodingOptions`; a bad value raises :class:`InvalidInputError` saying why."""
    def whole(value: Any, name: str, lo: int, hi: int) -> int:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} must be a whole number, not {value!r}.") from None
        if not v.is_integer() or not lo <= v <= hi:
            raise InvalidInputError(f"{name} must be a whole number from {lo} to {hi}, not {value!r}.")
        return int(v)

    def real(value: Any, name: str) -> float:
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InvalidInputError(f"{name} must be a number, not {value!r}.") from None
        if not np.isfinite(v):
            raise InvalidInputError(f"{name} must be a finite number, not {value!r}.")
        return v

    opts = DecodingOptions(
        max_new_tokens=whole(max_new_tokens, "max_new_tokens", 1, MAX_NEW_TOKENS),
        num_beams=whole(num_beams, "num_beams", 1, MAX_BEAMS),
        do_sample=bool(do_sample),
        temperature=real(temperature, "temperature"),
        top_p=real(top_p, "top_p"),
        seed=None if seed is None or seed == "" else whole(seed, "seed", 0, 2**32 - 1),
    )
    if not 0.0 < opts.temperature <= MAX_TEMPERATURE:
        raise InvalidInputError(f"temperature must be above 0 and at most {MAX_TEMPERATURE:g}, not {temperature!r}.",
                                hint="1 samples from the model's own distribution; lower is more conservative.")
    if not 0.0 < opts.top_p <= 1.0:
        raise InvalidInputError(f"top_p must be above 0 and at most 1, not {top_p!r}.")
    if opts.do_sample and opts.num_beams > 1:
        raise InvalidInputError("Choose either beam search (num_beams > 1) or sampling (do_sample=True), not both.")
    return opts


@dataclass
class TokenScore:
    """One generated token and the probability the model gave it."""

    token: str
    id: int
    probability: float


@dataclass
class CaptionWord:
    """One word of the caption: its text, its tokens (indices into ``CaptionResult.tokens``) and
    its probability (the product of its tokens' probabilities)."""

    text: str
    token_indices: list[int]
    probability: float


@dataclass
class CaptionResult:
    """A caption with its scores and, when asked for, one cross-attention map per word.

    ``caption`` includes the ``prompt`` if one was given; ``tokens``, ``words`` and ``word_maps``
    cover the generated part only (``word_maps[i]`` belongs to ``words[i]``).
    """

    caption: str
    tokens: list[TokenScore]
    words: list[CaptionWord]
    word_maps: list[Any] | None
    model: str
    decoding: dict[str, Any]
    prompt: str = ""
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def mean_probability(self) -> float:
        """Geometric mean of the token probabilities (a length-independent confidence)."""
        if not self.tokens:
            return float("nan")
        return float(np.exp(np.mean([np.log(max(t.probability, 1e-12)) for t in self.tokens])))

    def word_map(self, word: str | int) -> Any:
        """The :class:`~mmbench.explain.Explanation` of a word (its index, or its text: first occurrence)."""
        if not self.word_maps:
            raise InvalidInputError("This caption was made without attention maps; call the pipeline with attention=True.")
        if isinstance(word, (int, np.integer)):
            if not 0 <= int(word) < len(self.words):
                raise InvalidInputError(f"Word index {word} is out of range: the caption has {len(self.words)} words.")
            return self.word_maps[int(word)]
        wanted = str(word).strip().lower()
        for w, m in zip(self.words, self.word_maps):
            if w.text.lower() == wanted:
                return m
        raise InvalidInputError(f"The word {word!r} is not in the caption {self.caption!r}.",
                                hint=f"Its words: {', '.join(w.text for w in self.words)}.")


class ImageCaptioningPipeline(Pipeline):
    """Encoder-decoder image captioning.

    >>> pipe = mmbench.pipeline("image-to-text")            # BLIP online, else mmbench-tiny-captioner  # doctest: +SKIP
    >>> result = pipe(image, num_beams=3)                    # doctest: +SKIP
    >>> result.caption, result.tokens[0].probability         # doctest: +SKIP
    >>> result.word_map("circle").overlay()                  # where it looked when it wrote "circle"  # doctest: +SKIP
    """

    task = "image-to-text"

    def __init__(self, backend: Any, spec: Any, notice: str = "") -> None:
        super().__init__(backend, spec, notice)
        self.batch_size = 64
        self._sampling_lock = threading.Lock()

    # -- public ---------------------------------------------------------------------------------
    def __call__(self, image: Any, prompt: str | None = None, *, max_new_tokens: int = 30, num_beams: int = 1,
                 do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0, seed: int | None = None,
                 attention: bool = True) -> CaptionResult:
        """Caption one image (path, bytes, PIL or array).

        Args:
            prompt: text the caption must start with (conditional captioning, e.g. "a picture of").
            max_new_tokens, num_beams, do_sample, temperature, top_p, seed: see :class:`DecodingOptions`.
            attention: also compute the per-word cross-attention maps (``result.word_maps``).
        """
        opts = decoding_options(max_new_tokens, num_beams, do_sample, temperature, top_p, seed)
        pil = validate_image(image)
        return self._run([pil], self._prompt(prompt), opts, attention)[0]

    def caption_batch(self, images: Sequence[Any], prompt: str | None = None, *, attention: bool = False,
                      **decoding: Any) -> list[CaptionResult]:
        """:meth:`__call__` for many images (encoded and, for greedy decoding, decoded in batches)."""
        opts = decoding_options(**decoding)
        pil = validate_images(images)
        out: list[CaptionResult] = []
        for i in range(0, len(pil), self.batch_size):
            out += self._run(pil[i:i + self.batch_size], self._prompt(prompt), opts, attention)
        return out

    def unknown_words(self, text: str) -> list[str]:
        """Words a closed-vocabulary model cannot read ([] for open-vocabulary ones)."""
        return list(dict.fromkeys(self.backend.unknown_words(text))) if getattr(self.backend, "closed_vocabulary",
                                                                                False) else []

    # -- steps ----------------------------------------------------------------------------------
    def _prompt(self, prompt: str | None) -> str:
        if prompt is None or not str(prompt).strip():
            return ""
        text = validate_text(prompt, what="prompt")
        if not getattr(self.backend, "supports_prompt", True):
            raise InvalidInputError(f"{self.spec.name} does not take a prompt.")
        if getattr(self.backend, "closed_vocabulary", False):
            self.backend.check_words(text, "prompt")
        return text

    def preprocess(self, images: list[Any]) -> Any:
        return self.backend.encode(images)

    def _forward(self, features: Any, prompt: str, opts: DecodingOptions, attention: bool) -> list[dict]:
        import torch

        kwargs = dict(prompt=prompt, num_beams=opts.num_beams, max_new_tokens=opts.max_new_tokens,
                      do_sample=opts.do_sample, temperature=opts.temperature, top_p=opts.top_p)
        if opts.do_sample:
            generator = torch.Generator(device="cpu")
            # one image at a time, so that a seed gives the same caption whatever the batch
            with self._sampling_lock:  # backends without a generator argument fork the global RNG
                ids = []
                for i in range(features.shape[0]):
                    generator.manual_seed(opts.seed if opts.seed is not None else secrets.randbits(32))
                    ids += self.backend.generate(features[i:i + 1], generator=generator, seed=opts.seed, **kwargs)
        else:
            ids = self.backend.generate(features, **kwargs)
        out = []
        for i, seq in enumerate(ids):
            probs, records = self.backend.teacher_force(features[i:i + 1], seq, prompt=prompt, attention=attention)
            out.append({"ids": [int(t) for t in seq], "probs": probs, "records": records})
        return out

    def postprocess(self, image: Any, raw: dict, prompt: str, opts: DecodingOptions, attention: bool,
                    seconds: float) -> CaptionResult:
        ids, probs = raw["ids"], raw["probs"]
        tokens = [TokenScore(t, i, float(p)) for t, i, p in zip(self.backend.tokens(ids), ids, probs)]
        words = [CaptionWord(text, idx, float(np.prod([tokens[j].probability for j in idx])))
                 for text, idx in self.backend.words(ids)]
        caption = self.backend.decode(self.backend.encode_prompt(prompt) + ids)  # as the model reads it
        maps = None
        if attention:
            from ..explain.captioning import caption_word_maps

            seen = getattr(self.backend, "attention_image", None)  # a centre crop, for some models
            maps = caption_word_maps(seen(image) if seen else image, raw["records"], self.backend.grid, tokens, words,
                                     model=self.spec.name) if words else []
        return CaptionResult(caption=caption, tokens=tokens, words=words, word_maps=maps, model=self.spec.name,
                             decoding=opts.as_dict(), prompt=prompt, seconds=seconds)

    def _run(self, images: list[Any], prompt: str, opts: DecodingOptions, attention: bool) -> list[CaptionResult]:
        started = time.perf_counter()
        features = self.preprocess(images)
        raw = self._forward(features, prompt, opts, attention)
        seconds = (time.perf_counter() - started) / max(1, len(images))
        return [self.postprocess(im, r, prompt, opts, attention, seconds) for im, r in zip(images, raw)]
