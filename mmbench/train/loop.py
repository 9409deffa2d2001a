"""What the small CPU trainers share: :class:`LoopConfig` (the optimiser and run fields every such
``TrainConfig`` has), :func:`run_with_threads` (run a trainer on ``cfg.threads`` torch threads) and
:func:`save_training` (the model folder plus ``training.json``); for step-based trainers (the tiny CLIP and
its student) :func:`warmup_cosine` (the learning-rate schedule), :func:`budgeted_total` (shrink the
schedule to a time budget) and :func:`record_step` (the logged loss history).
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


def budgeted_total(step: int, total: int, steps: int, time_budget_s: float | None, elapsed: float, *,
                   after: int) -> int:
    """The schedule's length at ``step``: with a time budget, once more than ``after`` steps have
    timed the run, the number of steps that fit in ``time_budget_s`` (at least ``step``, at most
    ``steps``), so the schedule ends inside the budget; otherwise ``total`` unchanged."""
    if not time_budget_s or step <= after:
        return total
    return max(step, min(steps, int((step - 1) * time_budget_s / elapsed)))


def record_step(out: dict, *, step: int, lr: float, seconds: float, total: int, history: list[dict],
                log: Callable[[str], None]) -> None:
    """Append the step's losses (``out``: name -> scalar tensor), learning rate and time to
    ``history`` and log them as one JSON line."""
    rec = {k: round(float(v.detach()), 4) for k, v in out.items()}
    rec.update(step=step, lr=round(lr, 6), seconds=round(seconds, 1), total=total)
    history.append(rec)
    log(json.dumps(rec))
