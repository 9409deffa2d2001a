"""Train mmbench-tiny-sound (``mmbench train tiny-sound``): caption -> mel spectrogram, a conditional VAE.

Data: :class:`mmbench.data.sound_world.SoundWorld` clips of world seed :data:`TRAIN_SEED`, their
log-mel spectrograms (:func:`mmbench.audiogen.melspec.sound_to_mel`) stored as 8-bit numbers.
The (sound, count, direction) combinations in :data:`mmbench.data.sound_world.HELD_OUT_COMBINATIONS`
never appear in training, so the evaluation can ask for combinations the model has never heard.

Objective: mean squared error of the spectrogram plus ``kl_weight`` times the KL divergence of
``q(z | mel, caption)`` from N(0, I) per spectrogram bin — a beta-VAE whose weight decides how much
of each clip ``z`` may carry: too little weight and ``z`` copies the whole spectrogram, the decoder
stops reading the caption and samples from the prior are wrong (prompt accuracy on 60 validation
prompts after 3,000 steps: kl_weight 0.05 -> 0.23, 0.5 -> 0.63, 2 -> 0.87, 5 -> 0.83). "Free bits" (``free_bits`` nats per latent
dimension are not charged) keep the decoder from ignoring ``z`` altogether. Not L1: with spectrograms
that are mostly silence its per-bin median is silence everywhere. Captions are replaced by the empty
caption with probability ``caption_dropout`` (classifier-free guidance). AdamW with a one-cycle
schedule. About 8 minutes on one busy CPU core (load average 8-10), data included.

At the end the model generates spectrograms for held-out prompts of :data:`VAL_SEED`, turns them into
sound with Griffin-Lim and scores them with :mod:`mmbench.audiogen.analysis` (count and direction
recovered), the same way ``mmbench eval audio-generation`` does on its own seed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..audiogen.melspec import MelConfig, sound_to_mel
from ..data.sound_world import HELD_OUT_COMBINATIONS, SoundWorld, sound_vocabulary
from ..eval.audio_generation import score_sound_model
from ..models.tiny_sound import TinySound, TinySoundConfig
from .loop import LoopConfig, run_with_threads, save_training

TRAIN_SEED = 2000
VAL_SEED = 2999


@dataclass
class TrainConfig(LoopConfig):
    clips: int = 6_000
    val_prompts: int = 100
    steps: int = 3000
    kl_weight: float = 2.0
    free_bits: float = 0.5
    caption_dropout: float = 0.1
    time_budget_s: float | None = None
    model: dict = field(default_factory=dict)


def spectrograms(world: SoundWorld, n: int, cfg: MelConfig = MelConfig(), start: int = 0) -> tuple[np.ndarray, list[str]]:
    """``(mels (n, n_mels, frames) uint8, captions)`` of clips ``start..start+n`` of ``world``."""
    mels = np.zeros((n, cfg.n_mels, cfg.frames), dtype=np.uint8)
    captions = []
    for k, clip in enumerate(world.clips(n, start)):
        mels[k] = np.round(sound_to_mel(clip.samples, cfg) * 255).astype(np.uint8)
        captions.append(clip.caption)
    return mels, captions


def train(cfg: TrainConfig = TrainConfig(), out_dir: str | Path | None = None,
          log: Callable[[str], None] = print) -> tuple[TinySound, dict]:
    """Train and (if ``out_dir``) save ``model.safetensors``, ``config.json`` and ``training.json``."""
    return run_with_threads(_train, cfg, out_dir, log)


def _train(cfg: TrainConfig, out_dir: str | Path | None, log: Callable[[str], None]) -> tuple[TinySound, dict]:
    start = time.time()
    torch.manual_seed(cfg.seed)
    mel_cfg = MelConfig()
    world = SoundWorld(TRAIN_SEED, exclude=HELD_OUT_COMBINATIONS)
    mels, captions = spectrograms(world, cfg.clips, mel_cfg)
    log(f"data: {cfg.clips} clips of world seed {TRAIN_SEED} -> mel {mels.shape[1:]} ({time.time() - start:.0f}s)")
    model_cfg = TinySoundConfig(vocab=tuple(sound_vocabulary()), n_mels=mel_cfg.n_mels, frames=mel_cfg.frames,
                                mel=mel_cfg.as_dict(), **cfg.model)
    model = TinySound(model_cfg)
    ids = model.tokenize(captions)
    x_all = torch.from_numpy(mels)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=cfg.lr, total_steps=cfg.steps, pct_start=0.1)
    gen = torch.Generator().manual_seed(cfg.seed)
    history: list[dict] = []
    train_started = time.time()
    running = {"mse": 0.0, "kl": 0.0}
    step = 0
    for step in range(1, cfg.steps + 1):
        idx = torch.randint(0, len(x_all), (cfg.batch_size,), generator=gen)
        x = x_all[idx].float() / 255.0
        batch_ids = ids[idx].clone()
        drop = torch.rand(len(idx), generator=gen) < cfg.caption_dropout
        batch_ids[drop] = 0
        model.train()
        rec, mu, logvar = model(x, batch_ids)
        mse = (rec - x).square().mean()
        kl_dims = (0.5 * (mu ** 2 + logvar.exp() - 1.0 - logvar)).mean(dim=0)
        kl = kl_dims.sum()
        # "free bits": each latent dimension may carry free_bits nats before it is charged, so the
        # decoder cannot learn to ignore z (posterior collapse) while timing and pitch vary
        kl_charged = kl_dims.clamp(min=cfg.free_bits).sum()
        loss = mse + cfg.kl_weight * kl_charged / (model_cfg.n_mels * model_cfg.frames)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        running["mse"] += mse.item()
        running["kl"] += kl.item()
        if step % 250 == 0 or step == cfg.steps:
            k = 250 if step % 250 == 0 else step % 250
            rec_ = {"step": step, "mse": round(running["mse"] / k, 5), "kl": round(running["kl"] / k, 3),
                    "seconds": round(time.time() - start, 1)}
            history.append(rec_)
            log(json.dumps(rec_))
            running = {"mse": 0.0, "kl": 0.0}
        if cfg.time_budget_s is not None and time.time() - train_started > cfg.time_budget_s:
            log(f"time budget of {cfg.time_budget_s:.0f}s reached at step {step}")
            break
    model.eval()
    train_seconds = time.time() - start
    val = score_sound_model(model, SoundWorld(VAL_SEED).prompts(cfg.val_prompts), seed=0)
    log(f"validation (world seed {VAL_SEED}, {cfg.val_prompts} prompts): prompt accuracy {val['prompt_accuracy']:.3f}, "
        f"count {val['count_accuracy']:.3f}, direction {val['direction_accuracy']:.3f}")
    summary = {"steps": step, "seconds": round(train_seconds, 1), "train_config": asdict(cfg),
               "train_seed": TRAIN_SEED, "held_out_combinations": sorted(map(list, HELD_OUT_COMBINATIONS)),
               "val_seed": VAL_SEED, "val_prompt_accuracy": val["prompt_accuracy"],
               "val_count_accuracy": val["count_accuracy"], "val_direction_accuracy": val["direction_accuracy"],
               "params": sum(p.numel() for p in model.parameters()), "torch": torch.__version__}
    if out_dir is not None:
        save_training(model, out_dir, summary, history)
    return model, summary

