"""Train mmbench-tiny-video on procedural clips (``mmbench train tiny-video``): the video network,
then the audio network, then the audio-visual fusion weights ``a, b``.

Clips are generated on the fly (``ClipWorld(seed=cfg.seed)``, a fresh batch every step, so the
networks never see the same clip twice); a fraction ``p_ambiguous`` of each network's training
clips have *its* modality degraded (occluded / low-contrast / dropped frames for the video network,
noise / silence for the audio network), so that each learns to be unsure when it cannot see or
hear the motion — which is what lets the fused score lean on the other modality. The fusion
weights are then fitted on validation clips (seed ``VALIDATION_SEED``) by minimising the
log-loss of ``softmax(mean_t(a S_v(t) + b S_a(t)))``. Evaluation uses other seeds (``EVAL_SEED``).
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

from ..data.clips import MOTIONS, ClipWorld
from ..models.tiny_video import TinyAudioConfig, TinyVideoConfig, TinyVideoModel

#: Fusion weights are fitted on clips of this world seed; evaluation uses EVAL_SEED and above.
VALIDATION_SEED = 19_999
EVAL_SEED = 20_001


@dataclass
class TrainConfig:
    video_steps: int = 1500
    audio_steps: int = 400
    batch_size: int = 32
    lr: float = 2e-3
    min_lr: float = 2e-5
    warmup: int = 30
    weight_decay: float = 1e-4
    frame_loss: float = 0.5           # weight of the per-frame cross-entropy (deep supervision)
    p_ambiguous: float = 0.15         # training clips whose (own) modality is degraded
    n_fusion_clips: int = 450         # validation clips for fitting a, b (mixed ambiguity)
    seed: int = 0
    threads: int = 1
    time_budget_s: float | None = None  # shared by both networks (80 % video); schedules shrink to fit
    log_every: int = 50
    device: str = "cpu"


def _lr(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def _batch(world: ClipWorld, step: int, batch_size: int) -> list:
    return world.clips(batch_size, start=step * batch_size)


def _train_one(name: str, net: torch.nn.Module, inputs: Callable[[list], torch.Tensor], world: ClipWorld,
               steps: int, budget_s: float | None, cfg: TrainConfig, log: Callable[[str], None]) -> dict:
    """AdamW + cosine schedule on fresh clips; returns the history and the last metrics."""
    device = torch.device(cfg.device)
    net.to(device).train()
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in net.named_parameters() if p.dim() <= 1]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr)
    history, started, total = [], time.perf_counter(), steps
    run_loss = run_acc = 0.0
    step = 0
    for step in range(steps):
        elapsed = time.perf_counter() - started
        if budget_s is not None and step > 20:  # shrink the schedule so it ends in the budget
            projected = int(budget_s / (elapsed / step))
            total = max(step + 1, min(steps, projected))
            if step >= total:
                break
        for group in opt.param_groups:
            group["lr"] = _lr(step, total, cfg)
        clips = _batch(world, step, cfg.batch_size)
        x = inputs(clips).to(device)
        y = torch.tensor([c.label for c in clips], device=device)
        per_frame = net(x)
        logits = per_frame.mean(dim=1)  # clip score = mean of the per-frame scores
        # deep supervision: every frame's scores should also point at the clip's motion (4x faster to learn)
        loss = F.cross_entropy(logits, y, label_smoothing=0.05) + cfg.frame_loss * F.cross_entropy(
            per_frame.reshape(-1, per_frame.shape[-1]), y.repeat_interleave(per_frame.shape[1]))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 2.0)
        opt.step()
        value = float(loss.detach())
        run_loss = 0.9 * run_loss + 0.1 * value if step else value
        acc = float((logits.argmax(-1) == y).float().mean())
        run_acc = 0.9 * run_acc + 0.1 * acc if step else acc
        if (step + 1) % cfg.log_every == 0 or step == total - 1:
            row = {"step": step + 1, "loss": round(run_loss, 4), "acc": round(run_acc, 4),
                   "lr": round(opt.param_groups[0]["lr"], 6), "seconds": round(time.perf_counter() - started, 1)}
            history.append(row)
            log(f"{name} {json.dumps(row)}")
    net.eval()
    return {"steps": step + 1, "seconds": round(time.perf_counter() - started, 1), "history": history}


@torch.inference_mode()
def per_frame_scores(model: TinyVideoModel, clips: list, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """``(S_v, S_a)``: per-frame logits ``(N, T, C)`` of the video and the audio network."""
    sv, sa = [], []
    for i in range(0, len(clips), batch_size):
        chunk = clips[i:i + batch_size]
        sv.append(model.video(model.video.preprocess(np.stack([c.frames for c in chunk]))).numpy())
        sa.append(model.audio(torch.from_numpy(np.stack([c.audio for c in chunk]))).numpy())
    return np.concatenate(sv), np.concatenate(sa)


def train(cfg: TrainConfig, out: str | Path | None = None,
          log: Callable[[str], None] = print) -> tuple[TinyVideoModel, dict]:
    """Train both networks and the fusion weights; write the model folder to ``out`` if given."""
    from ..models.audio_visual import evaluate_fusion, fit_weights

    torch.set_num_threads(max(1, int(cfg.threads)))
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    labels = list(MOTIONS)
    model = TinyVideoModel(TinyVideoConfig(labels=labels), TinyAudioConfig(labels=labels))
    budget = cfg.time_budget_s

    video_world = ClipWorld(seed=cfg.seed, p_video_ambiguous=cfg.p_ambiguous, audio=False)
    log(f"video network: {sum(p.numel() for p in model.video.parameters()):,} parameters, "
        f"{cfg.video_steps} steps x {cfg.batch_size} clips")
    video_run = _train_one("video", model.video, lambda clips: model.video.preprocess(np.stack([c.frames for c in clips])),
                           video_world, cfg.video_steps, None if budget is None else 0.8 * budget, cfg, log)

    audio_world = ClipWorld(seed=cfg.seed + 1, p_audio_ambiguous=cfg.p_ambiguous, video=False)
    log(f"audio network: {sum(p.numel() for p in model.audio.parameters()):,} parameters, "
        f"{cfg.audio_steps} steps x {cfg.batch_size} clips")
    left = None if budget is None else max(10.0, budget - (time.perf_counter() - started) - 20)
    audio_run = _train_one("audio", model.audio, lambda clips: torch.from_numpy(np.stack([c.audio for c in clips])),
                           audio_world, cfg.audio_steps, left, cfg, log)
    model.eval()

    # Fusion weights: fitted on validation clips where either modality may be degraded.
    val = ClipWorld(seed=VALIDATION_SEED, p_video_ambiguous=1 / 3, p_audio_ambiguous=1 / 3).balanced(cfg.n_fusion_clips)
    sv, sa = per_frame_scores(model, val)
    y = np.array([c.label for c in val])
    a, b = fit_weights(sv, sa, y)
    val_report = evaluate_fusion(sv, sa, y, a, b)
    log(f"fusion weights a={a:.3f} b={b:.3f}; validation accuracy video {val_report['video_accuracy']:.3f}, "
        f"audio {val_report['audio_accuracy']:.3f}, fused {val_report['fusion_accuracy']:.3f}")

    summary = {
        "seconds": round(time.perf_counter() - started, 1),
        "device": str(cfg.device), "threads": cfg.threads,
        "train_config": asdict(cfg),
        "video": {k: v for k, v in video_run.items() if k != "history"},
        "audio": {k: v for k, v in audio_run.items() if k != "history"},
        "fusion_weights": {"a": round(a, 4), "b": round(b, 4)},
        "validation": {k: round(v, 4) for k, v in val_report.items()},
        "params": {"video": sum(p.numel() for p in model.video.parameters()),
                   "audio": sum(p.numel() for p in model.audio.parameters())},
    }
    if out is not None:
        out = Path(out)
        model.save(out, extra_config={"fusion": {"a": a, "b": b}})
        (out / "training.json").write_text(json.dumps(
            {"summary": summary, "history": {"video": video_run["history"], "audio": audio_run["history"]}},
            indent=1))
        log(f"wrote {out}")
    return model, summary
