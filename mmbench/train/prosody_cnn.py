"""Train mmbench-prosody-cnn (``mmbench train prosody-cnn``): a spectrogram CNN that reads the
sentiment cue of the procedural prosody clips (chord quality, pitch glide, pulse rate).

Data: :class:`mmbench.data.sentiment.SentimentWorld` clips from world seeds ``TRAIN_SEEDS`` (the
fusion lab and its tests use seeds below 100, so the CNN never sees their clips), audio
reliability 1 (the clip always shows the label's cue) and noise levels spread over 0.2-0.8, so the
model learns to read the cue at every difficulty. A held-out world (``VAL_SEED``) measures it.
Plain full-data epochs with Adam and a cosine schedule; a couple of minutes on one CPU core.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.sentiment import SentimentWorld
from ..models.prosody_cnn import ProsodyCNN, ProsodyCNNConfig
from .loop import LoopConfig, run_with_threads, save_training

TRAIN_SEEDS = tuple(range(1000, 1006))
VAL_SEED = 1999
NOISE_LEVELS = (0.2, 0.35, 0.5, 0.5, 0.65, 0.8)


@dataclass
class TrainConfig(LoopConfig):
    clips_per_seed: int = 1000
    val_clips: int = 600
    epochs: int = 10
    batch_size: int = 64
    lr: float = 3e-3


def clips(seed: int, n: int, noise: float) -> tuple[np.ndarray, np.ndarray]:
    """``(audio (n, samples), labels (n,))`` from one world whose audio always tells the truth."""
    data = SentimentWorld(seed, reliability={"audio": 1.0}, noise={"audio": noise}).dataset(n)
    return data.audio, data.labels


def evaluate(model: ProsodyCNN, audio: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(torch.as_tensor(audio[i:i + 256])).argmax(1) for i in range(0, len(audio), 256)])
    return float((pred.numpy() == labels).mean())


def train(cfg: TrainConfig = TrainConfig(), out_dir: str | Path | None = None,
          log: Callable[[str], None] = print) -> tuple[ProsodyCNN, dict]:
    """Train and (if ``out_dir``) save ``model.safetensors``, ``config.json`` and ``training.json``."""
    return run_with_threads(_train, cfg, out_dir, log)


def _train(cfg: TrainConfig, out_dir, log) -> tuple[ProsodyCNN, dict]:
    start = time.time()
    torch.manual_seed(cfg.seed)
    parts = [clips(s, cfg.clips_per_seed, NOISE_LEVELS[k % len(NOISE_LEVELS)]) for k, s in enumerate(TRAIN_SEEDS)]
    x = torch.as_tensor(np.concatenate([p[0] for p in parts]))
    y = torch.as_tensor(np.concatenate([p[1] for p in parts]))
    val_audio, val_labels = clips(VAL_SEED, cfg.val_clips, 0.5)
    log(f"data: {len(x)} training clips, {len(val_labels)} validation clips ({time.time() - start:.1f}s)")
    model = ProsodyCNN(ProsodyCNNConfig())
    with torch.no_grad():  # spectrograms once: the frontend has no trainable parameters
        specs = torch.cat([model.spectrogram(x[i:i + 512]) for i in range(0, len(x), 512)])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps = cfg.epochs * math.ceil(len(x) / cfg.batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=steps, pct_start=0.15)
    gen = torch.Generator().manual_seed(cfg.seed)
    history = []
    for epoch in range(1, cfg.epochs + 1):
        model.train()
        order = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), cfg.batch_size):
            idx = order[i:i + cfg.batch_size]
            loss = F.cross_entropy(model.classify_spectrogram(specs[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        rec = {"epoch": epoch, "loss": round(total / len(x), 4), "val_accuracy": round(evaluate(model, val_audio, val_labels), 4),
               "seconds": round(time.time() - start, 1)}
        history.append(rec)
        log(json.dumps(rec))
    model.eval()
    summary = {"epochs": cfg.epochs, "seconds": round(time.time() - start, 1), "train_config": asdict(cfg),
               "train_seeds": list(TRAIN_SEEDS), "noise_levels": list(NOISE_LEVELS), "val_seed": VAL_SEED,
               "val_accuracy": history[-1]["val_accuracy"], "torch": torch.__version__}
    if out_dir is not None:
        save_training(model, out_dir, summary, history)
    return model, summary
