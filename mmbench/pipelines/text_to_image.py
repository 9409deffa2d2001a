"""The text-to-image pipeline: prompt -> images, each with the seed that reproduces it.

One entry point, ``pipe(prompt, ...)``, with diffusers' argument names (``negative_prompt``,
``num_inference_steps``, ``guidance_scale``, ``width``, ``height``) for every backend:
a diffusers checkpoint (SD-Turbo online, a larger SDXL as an option) or the offline
mmbench-tiny-diffusion. Inputs are validated before any compute; a ``callback(step, total)`` is
called after every denoising step (the app feeds ``gr.Progress`` from it) and ``cancel`` (an
object with ``is_set()``, e.g. ``threading.Event``) stops a run between two steps.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ..errors import InvalidInputError, MMBenchError, TextError
from .base import Pipeline

MAX_PROMPT_CHARS = 500
MAX_IMAGES = 8
MAX_SEED = 2**32 - 1


class GenerationCancelled(MMBenchError):
    """A generation was cancelled between two denoising steps (nothing is returned)."""


@dataclass
class TextToImageResult:
    """Images of one call, aligned with their ``seeds`` and ``prompts``."""

    images: list[Any]  # PIL RGB images
    seeds: list[int]
    prompts: list[str]
    negative_prompt: str
    num_inference_steps: int
    guidance_scale: float
    width: int
    height: int
    seconds: float
    model: str
    meta: dict = field(default_factory=dict)

    def captions(self) -> list[str]:
        """Gallery captions that say how to reproduce each image."""
        return [f"seed {s} · {p}" for s, p in zip(self.seeds, self.prompts)]


class TextToImagePipeline(Pipeline):
    """Generate images from text. Created by ``mmbench.pipeline("text-to-image", model=None)``.

    Attributes (per model, from its registry row or weights): ``default_steps``,
    ``default_guidance``, ``default_size``, ``max_steps``, ``sizes`` (allowed image sides).
    """

    task = "text-to-image"

    @property
    def default_steps(self) -> int:
        return int(self.backend.default_steps)

    @property
    def default_guidance(self) -> float:
        return float(self.backend.default_guidance)

    @property
    def default_size(self) -> int:
        return int(self.backend.default_size)

    @property
    def max_steps(self) -> int:
        return int(self.backend.max_steps)

    @property
    def sizes(self) -> tuple[int, int]:
        """``(smallest, largest)`` allowed width/height (multiples of 8)."""
        return tuple(self.backend.sizes)  # type: ignore[return-value]

    def __call__(self, prompt: str | Sequence[str], *, negative_prompt: str | None = None,
                 num_inference_steps: int | None = None, guidance_scale: float | None = None,
                 width: int | None = None, height: int | None = None, seed: int | Sequence[int] | None = None,
                 num_images: int = 1, callback: Callable[[int, int], None] | None = None,
                 cancel: Any = None) -> TextToImageResult:
        """Generate ``num_images`` images per prompt (or one per prompt of a list).

        Args:
            prompt: the text (or a list of texts, one image each).
            negative_prompt: what to steer away from (replaces the empty prompt of guidance).
            num_inference_steps: denoising steps (default: the model's, e.g. 1 for SD-Turbo).
            guidance_scale: classifier-free guidance weight (0 or 1: none).
            width, height: output size in pixels, multiples of 8 within :attr:`sizes`.
            seed: one seed (image i gets ``seed + i``), one seed per image, or None (random;
                the seeds used are returned, so any image can be regenerated).
            callback: ``callback(step, total)`` after every denoising step.
            cancel: ``cancel.is_set()`` is checked after every step; True raises
                :class:`GenerationCancelled`.

        Raises:
            TextError (empty / too long prompt), InvalidInputError (steps, guidance, size, seeds,
            num_images out of range), GenerationCancelled.
        """
        prompts, negative, steps, guidance, w, h, seeds = self.validate(
            prompt, negative_prompt, num_inference_steps, guidance_scale, width, height, seed, num_images)

        def on_step(step: int, total: int) -> None:
            if callback is not None:
                callback(step, total)
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"Generation cancelled after {step} of {total} steps.")

        started = time.perf_counter()
        arrays = self.backend.generate(prompts, negative_prompt=negative, steps=steps, guidance=guidance,
                                       width=w, height=h, seeds=seeds, callback=on_step)
        seconds = time.perf_counter() - started
        from PIL import Image

        images = [Image.fromarray(a) for a in arrays]
        return TextToImageResult(images, seeds, prompts, negative, steps, guidance, w, h, seconds, self.spec.name,
                                 meta={"device": str(self.device), "backend_note": getattr(self.backend, "note", "")})

    # -- validation (also used by the app before it queues work) -----------------------------
    def validate(self, prompt: Any, negative_prompt: Any = None, num_inference_steps: Any = None,
                 guidance_scale: Any = None, width: Any = None, height: Any = None, seed: Any = None,
                 num_images: Any = 1) -> tuple[list[str], str, int, float, int, int, list[int]]:
        """Check every argument and fill in the model's defaults; returns
        ``(prompts, negative_prompt, steps, guidance, width, height, seeds)``."""
        from ..io import validate_text, validate_texts

        n = _int(num_images, "num_images", 1, MAX_IMAGES)
        if isinstance(prompt, str) or prompt is None:
            prompts = [validate_text(prompt, what="prompt", max_chars=MAX_PROMPT_CHARS)] * n
        else:
            if n != 1:
                raise InvalidInputError("Give either a list of prompts or num_images, not both.")
            prompts = validate_texts(prompt, what="prompt", max_items=64, max_chars=MAX_PROMPT_CHARS)
        negative = ""
        if negative_prompt is not None and str(negative_prompt).strip():
            negative = validate_text(negative_prompt, what="negative prompt", max_chars=MAX_PROMPT_CHARS)
        steps = _int(self.default_steps if num_inference_steps is None else num_inference_steps,
                     "num_inference_steps", 1, self.max_steps)
        guidance = self.default_guidance if guidance_scale is None else guidance_scale
        try:
            guidance = float(guidance)
        except (TypeError, ValueError) as err:
            raise InvalidInputError(f"guidance_scale must be a number, not {guidance!r}.") from err
        if not 0.0 <= guidance <= 30.0 or guidance != guidance:
            raise InvalidInputError(f"guidance_scale {guidance} is out of range.", hint="Use a value from 0 to 30.")
        lo, hi = self.sizes
        w = _size(self.default_size if width is None else width, "width", lo, hi)
        h = _size(self.default_size if height is None else height, "height", lo, hi)
        seeds = _seeds(seed, len(prompts))
        unknown = self.backend.unknown_words(prompts + ([negative] if negative else []))
        if unknown and len(unknown) == sum(len(p.split()) for p in prompts):
            raise TextError(f"{self.spec.name} knows none of the words of the prompt ({', '.join(unknown[:5])}).",
                            hint=self.backend.vocabulary_hint())
        return prompts, negative, steps, guidance, w, h, seeds

    def unknown_words(self, texts: Sequence[str]) -> list[str]:
        """Words the model's text encoder cannot read (only the tiny model has a closed vocabulary)."""
        return self.backend.unknown_words(list(texts))

    # -- explanation ------------------------------------------------------------------------
    def cross_attention(self, prompt: str, *, seed: int = 0, num_inference_steps: int | None = None,
                        guidance_scale: float | None = None, negative_prompt: str | None = None,
                        width: int | None = None, height: int | None = None) -> tuple[Any, list[Any]]:
        """Generate one image and return ``(image, [Explanation per prompt word])``: for each
        word, how much every image position attended to it, summed over the UNet's
        cross-attention layers, heads and denoising steps (DAAM). See
        :class:`mmbench.explain.CrossAttentionRecorder`."""
        from ..explain.cross_attention import CrossAttentionRecorder

        prompts, negative, steps, guidance, w, h, seeds = self.validate(
            prompt, negative_prompt, num_inference_steps, guidance_scale, width, height, seed, 1)
        unet = self.backend.unet
        with CrossAttentionRecorder(unet, self.backend.cross_attention_pattern) as rec:
            arrays = self.backend.generate(prompts, negative_prompt=negative, steps=steps, guidance=guidance,
                                           width=w, height=h, seeds=seeds, callback=None)
        from PIL import Image

        image = Image.fromarray(arrays[0])
        tokens, positions = self.backend.prompt_tokens(prompts[0])
        if not tokens:
            raise TextError("The prompt has no word the model can attend to.")
        return image, rec.prompt_maps(image, tokens, positions)


def _int(value: Any, name: str, lo: int, hi: int) -> int:
    try:
        number = int(value)
        if number != float(value):
            raise ValueError
    except (TypeError, ValueError, OverflowError) as err:
        raise InvalidInputError(f"{name} must be a whole number, not {value!r}.") from err
    if not lo <= number <= hi:
        raise InvalidInputError(f"{name} = {number} is out of range.", hint=f"Use {lo} to {hi}.")
    return number


def _size(value: Any, name: str, lo: int, hi: int) -> int:
    number = _int(value, name, 1, 1 << 20)
    if number % 8:
        raise InvalidInputError(f"{name} = {number} is not a multiple of 8.",
                                hint=f"Use {number // 8 * 8} or {number // 8 * 8 + 8}.")
    if not lo <= number <= hi:
        raise InvalidInputError(f"{name} = {number} is out of range for this model.",
                                hint=f"Use a multiple of 8 from {lo} to {hi}.")
    return number


def _seeds(seed: Any, n: int) -> list[int]:
    if seed is None or seed == "" or (isinstance(seed, float) and seed != seed):
        base = secrets.randbelow(MAX_SEED - 64)
        return [base + i for i in range(n)]
    if isinstance(seed, (list, tuple)):
        if len(seed) != n:
            raise InvalidInputError(f"Got {len(seed)} seeds for {n} images.")
        return [_int(s, "seed", 0, MAX_SEED) for s in seed]
    base = _int(seed, "seed", 0, MAX_SEED - n)
    return [base + i for i in range(n)]
