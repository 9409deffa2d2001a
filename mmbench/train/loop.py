"""What the small CPU trainers share: :class:`LoopConfig` (the optimiser and run fields every such
``TrainConfig`` has), :func:`run_with_threads` (run a trainer on ``cfg.threads`` torch threads) and
:func:`save_training` (the model folder plus ``training.json``) and :func:`warmup_cosine` (the learning-rate
schedule of the tiny CLIP and its student).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

Result = TypeVar("Result")


@dataclass
class LoopConfig:
    """Fields shared by the trainers' ``TrainConfig``: mini-batch size, AdamW learning rate and weight
    decay, the seed of the weights and of the batch order, and the number of CPU threads."""

    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    threads: int = 1


def run_with_threads(train: Callable[[Any, Any, Callable[[str], None]], Result], cfg: LoopConfig,
                     out_dir: str | Path | None, log: Callable[[str], None]) -> Result:
    """``train(cfg, out_dir, log)`` with torch limited to ``cfg.threads`` threads (restored afterwards)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    try:
        return train(cfg, out_dir, log)
    finally:
        torch.set_num_threads(threads)


def save_training(model: Any, out_dir: str | Path, summary: dict, history: list[dict]) -> None:
    """``model.save(out_dir)`` (weights and config) and ``training.json`` with the summary and history."""
    model.save(out_dir)
    (Path(out_dir) / "training.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))


def warmup_cosine(step: int, total: int, *, lr: float, min_lr: float, warmup: int) -> float:
    """Learning rate at ``step`` of ``total``: linear warm-up over ``warmup`` steps, then a cosine
    from ``lr`` down to ``min_lr`` at step ``total``."""
    if step < warmup:
        return lr * step / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_lr + 0.5 * (lr - min_lr) * (1 + math.cos(math.pi * progress))
