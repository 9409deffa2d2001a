"""Cross-attention maps per token, for captioners and text-to-image models: :class:`CrossAttentionRecorder`
(the recording itself is :class:`mmbench.models.attention.CrossAttentionTap`; this adds the maps).

The protocol a generating pipeline follows (issue 4's captioning and text-to-image pipelines):

1. name its cross-attention modules with a regex over ``model.named_modules()`` (e.g.
   ``r".*\\.cross_attn"`` for mmbench's own blocks, ``r".*attn2"`` for a diffusers UNet);
2. run generation inside ``with CrossAttentionRecorder(model, pattern) as rec:`` — every call of
   those modules is recorded (float32 CPU copies, in this thread only, see
   :class:`~mmbench.models.attention.AttentionTap`);
3. turn the record into one :class:`~.explanation.Explanation` per token:

   * captioning — text queries attend to image keys: :meth:`CrossAttentionRecorder.word_maps`
     gives "where did the model look when it wrote *this* word" (Xu et al. 2015, Show, Attend
     and Tell); the image keys are the last ``gh * gw`` keys (patch grid ``grid``);
   * text-to-image — image queries attend to prompt keys: :meth:`CrossAttentionRecorder.prompt_maps`
     gives "which pixels did *this* prompt word shape", summed over layers, heads and steps
     (DAAM, Tang et al. 2023); each call's query grid is inferred from its length and the image's
     aspect ratio, so UNet levels of different resolutions add up.

Heads are averaged; every call's map is resized to the image and the calls averaged.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..models.attention import CrossAttentionTap, query_grid
from .explanation import Explanation, to_image_coordinates


class CrossAttentionRecorder(CrossAttentionTap):
    """Record the attention probabilities of a model's cross-attention modules and turn them into
    one :class:`~.explanation.Explanation` per token.

    Args:
        model: the ``nn.Module`` whose submodules are recorded.
        modules: a regex matched (``fullmatch``) against ``model.named_modules()`` names, a list
            of names, or a ``{name: module}`` mapping.

    Attributes (after the ``with`` block):
        records: ``{name: [probs (batch, heads, Lq, Lk) float32 CPU, one per call]}``.
    """

    def __enter__(self) -> "CrossAttentionRecorder":
        super().__enter__()
        return self

    def _calls(self) -> list[Any]:
        calls = [p for values in self.records.values() for p in values]
        if not calls:
            raise InvalidInputError("No cross-attention was recorded: run the model inside `with recorder:`.")
        return calls

    # -- captioning: text queries over image keys ------------------------------------------------
    def word_maps(self, image: Any, words: Sequence[str], grid: tuple[int, int], batch_index: int = 0) -> list:
        """One map per generated word: the attention of that word's query to the image patches.

        The rows of a module are the query positions it has seen: with a KV cache each decoding
        call adds one row (``Lq == 1``), without one the last call holds them all. ``words`` are
        the *last* ``len(words)`` query positions (so a prompt or BOS before them is skipped).
        Keys: the last ``gh * gw`` keys are the patch grid (a [CLS] or prefix tokens before them
        are ignored).
        """
        import torch

        arr, words = self._image_and_tokens(image, words)
        gh, gw = int(grid[0]), int(grid[1])
        per_module = []
        for name, calls in self.records.items():
            if not calls:
                continue
            if all(c.shape[2] == 1 for c in calls):
                rows = torch.cat([c[batch_index] for c in calls], dim=1)  # (heads, steps, Lk)
            else:
                rows = calls[-1][batch_index]
            if rows.shape[1] < len(words):
                raise InvalidInputError(f"{name} saw {rows.shape[1]} query positions, fewer than the "
                                        f"{len(words)} words.")
            if rows.shape[2] < gh * gw:
                raise InvalidInputError(f"{name} attends to {rows.shape[2]} keys, fewer than the {gh}x{gw} grid.")
            rows = rows[:, -len(words):, -gh * gw:].mean(0)  # (words, gh*gw)
            per_module.append(rows.reshape(len(words), gh, gw).numpy())
        if not per_module:
            self._calls()
        maps = [np.mean([_resize(m[i], arr.shape[:2]) for m in per_module], axis=0) for i in range(len(words))]
        return [self._explanation(arr, m, w, i, "text") for i, (m, w) in enumerate(zip(maps, words))]

    # -- text-to-image: image queries over prompt keys ------------------------------------------
    def prompt_maps(self, image: Any, tokens: Sequence[str], positions: Sequence[int] | None = None,
                    batch_index: int = -1) -> list:
        """One map per prompt token: the attention every image position pays to it, averaged over
        heads, modules and calls (denoising steps). ``positions``: the key index of each token
        (default ``1..len(tokens)``: after a BOS token, as CLIP-tokenised prompts are);
        ``batch_index`` picks the conditional half of a classifier-free-guidance batch (the last)."""
        arr, tokens = self._image_and_tokens(image, tokens)
        positions = list(range(1, len(tokens) + 1)) if positions is None else [int(p) for p in positions]
        if len(positions) != len(tokens):
            raise InvalidInputError(f"Got {len(tokens)} tokens but {len(positions)} positions.")
        h, w = arr.shape[:2]
        total = np.zeros((len(tokens), h, w), dtype=np.float64)
        calls = self._calls()
        for probs in calls:
            _, _, lq, lk = probs.shape
            if max(positions) >= lk:
                raise InvalidInputError(f"Token position {max(positions)} is beyond the {lk} prompt keys.")
            gh, gw = query_grid(lq, (h, w))
            a = probs[batch_index].mean(0)  # (Lq, Lk)
            for i, p in enumerate(positions):
                total[i] += _resize(a[:, p].reshape(gh, gw).numpy(), (h, w))
        total /= len(calls)
        return [self._explanation(arr, m, t, p, "image") for m, t, p in zip(total, tokens, positions)]

    # -- helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _image_and_tokens(image: Any, tokens: Sequence[str]) -> tuple[np.ndarray, list[str]]:
        from ..io import validate_image

        tokens = [str(t) for t in tokens]
        if not tokens:
            raise InvalidInputError("Name at least one token to map.")
        return np.asarray(validate_image(image)), tokens

    def _explanation(self, arr: np.ndarray, heat: np.ndarray, token: str, index: int, queries: str) -> Any:
        return Explanation(heatmap=to_image_coordinates(heat.astype(np.float32), arr.shape[:2]), image=arr,
                           method="cross-attention", target=token, layer=None,
                           meta={"family": "attention", "modules": self.names, "token_index": index,
                                 "queries": queries, "calls": sum(len(v) for v in self.records.values())})


def _resize(grid: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    import cv2

    h, w = size
    return cv2.resize(np.asarray(grid, dtype=np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
