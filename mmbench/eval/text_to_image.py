"""Score text-to-image models on held-out procedural prompts (``mmbench eval text-to-image``).

Prompts are "a red circle", "an orange ring", ... drawn from a seed never used in training, each
with its own sampling seed. A generated image counts as correct when the offline tiny CLIP, doing
zero-shot classification over the 36 shape x colour classes, puts the asked class first
(``prompt_accuracy``, the bar: >= 0.70); ``colour_accuracy`` / ``shape_accuracy`` check one
attribute each. ``judge_ceiling`` is the same judge on real 32x32 world images of the same
classes — the best a perfect generator could score with this judge.
"""

from __future__ import annotations

import time
from typing import Any, Callable, Sequence

import numpy as np

from ..data.world import COLOURS, SHAPES, World, phrase, shape_colour_classes

#: Held-out seed of the prompt list (the training worlds use seeds 100-199).
EVAL_SEED = 10_001


def eval_prompts(n: int = 200, seed: int = EVAL_SEED) -> list[dict]:
    """``n`` prompts ``{"prompt", "colour", "shape", "seed"}``; every class appears about equally often."""
    rng = np.random.default_rng(seed)
    classes = [(c, s) for c in COLOURS for s in SHAPES]
    order = np.concatenate([rng.permutation(len(classes)) for _ in range(n // len(classes) + 1)])[:n]
    seeds = rng.integers(0, 2**31 - 1, n)
    return [{"prompt": phrase(classes[k][0], classes[k][1]), "colour": classes[k][0], "shape": classes[k][1],
             "seed": int(sd)} for k, sd in zip(order, seeds)]


class PromptJudge:
    """Zero-shot shape x colour classifier (the offline tiny CLIP) used to score generated images."""

    def __init__(self, device: Any = "cpu") -> None:
        from ..loading import pipeline

        self.pipe = pipeline("image-text-matching", "mmbench-tiny-clip", device=device)
        self.classes = shape_colour_classes()

    def classify(self, images: Sequence[Any]) -> list[str]:
        from PIL import Image

        pil = [im if isinstance(im, Image.Image) else Image.fromarray(np.asarray(im, dtype=np.uint8)) for im in images]
        return [r.top for r in self.pipe.zero_shot_classify_batch(pil, self.classes)]

    def score(self, images: Sequence[Any], rows: Sequence[dict]) -> list[dict]:
        """One dict per image: asked class, predicted class and the three hits."""
        out = []
        for row, pred in zip(rows, self.classify(images)):
            colour, shape = pred.split(" ", 1)
            out.append({**row, "predicted": pred, "colour_ok": colour == row["colour"], "shape_ok": shape == row["shape"],
                        "correct": colour == row["colour"] and shape == row["shape"]})
        return out

    def ceiling(self, n: int = 200, seed: int = EVAL_SEED) -> float:
        """Judge accuracy on real 32x32 single-object world scenes (what a perfect generator would get)."""
        scenes = World(seed=seed, image_size=32, n_objects=1).scenes(n)
        preds = self.classify([s.image for s in scenes])
        return float(np.mean([p == s.objects[0].label for p, s in zip(preds, scenes)]))


def summarise(rows: Sequence[dict], seconds: float, model: str, **extra: Any) -> dict:
    n = max(1, len(rows))
    return {"n": len(rows),
            "prompt_accuracy": round(sum(r["correct"] for r in rows) / n, 4),
            "colour_accuracy": round(sum(r["colour_ok"] for r in rows) / n, 4),
            "shape_accuracy": round(sum(r["shape_ok"] for r in rows) / n, 4),
            "seconds_per_image": round(seconds / n, 4), "model": model, **extra}


def evaluate_model(model: Any, n: int = 200, device: str = "cpu", batch_size: int = 50, steps: int | None = None,
                   guidance: float | None = None, seed: int = EVAL_SEED) -> dict:
    """Prompt accuracy of a :class:`~mmbench.models.tiny_diffusion.TinyDiffusion` called directly
    (used at the end of training; ``mmbench eval`` goes through the pipeline instead)."""
    judge = PromptJudge(device)
    rows = eval_prompts(n, seed)
    images, started = [], time.perf_counter()
    for i in range(0, n, batch_size):
        chunk = rows[i:i + batch_size]
        images += list(model.generate([r["prompt"] for r in chunk], seeds=[r["seed"] for r in chunk],
                                      steps=steps, guidance=guidance).numpy())
    seconds = time.perf_counter() - started
    scored = judge.score(images, rows)
    return {**summarise(scored, seconds, "mmbench-tiny-diffusion"), "judge_ceiling": round(judge.ceiling(), 4),
            "rows": scored}


def evaluate_pipeline(pipe: Any, n: int = 200, steps: int | None = None, guidance: float | None = None,
                      batch_size: int = 25, seed: int = EVAL_SEED, judge_device: Any = "cpu",
                      on_result: Callable[[dict], None] | None = None) -> dict:
    """Prompt accuracy of a text-to-image pipeline (``mmbench.pipeline("text-to-image", ...)``).

    ``on_result`` receives one dict per prompt (the CLI prints them as JSON lines). Also checks
    that the first prompt's seed reproduces its image exactly (``seed_reproducible``).
    """
    judge = PromptJudge(judge_device)
    rows = eval_prompts(n, seed)
    images, started = [], time.perf_counter()
    for i in range(0, n, batch_size):
        chunk = rows[i:i + batch_size]
        result = pipe([r["prompt"] for r in chunk], seed=[r["seed"] for r in chunk], num_inference_steps=steps,
                      guidance_scale=guidance)
        images += [np.asarray(im) for im in result.images]
    seconds = time.perf_counter() - started
    again = np.asarray(pipe(rows[0]["prompt"], seed=rows[0]["seed"], num_inference_steps=steps,
                            guidance_scale=guidance).images[0])
    scored = judge.score(images, rows)
    if on_result is not None:
        for r in scored:
            on_result({k: r[k] for k in ("prompt", "seed", "predicted", "correct")})
    return summarise(scored, seconds, pipe.spec.name, seed_reproducible=bool(np.array_equal(again, images[0])),
                     judge_ceiling=round(judge.ceiling(), 4), steps=steps or pipe.default_steps,
                     guidance=pipe.default_guidance if guidance is None else guidance)
