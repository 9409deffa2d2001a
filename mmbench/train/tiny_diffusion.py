"""Train mmbench-tiny-diffusion on the procedural world (``mmbench train tiny-diffusion``).

The recipe is DDPM (Ho et al. 2020) with classifier-free guidance, as in every text-to-image model:

1. render ``n_scenes`` 32x32 scenes (mostly one object, some two) with all their caption variants;
2. each step: pick images and one caption each (dropped to ``""`` with probability ``p_uncond``),
   draw a time ``t`` and noise ``eps``, make ``x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps`` and
   regress the UNet's output on ``eps`` (mean squared error);
3. keep an exponential moving average (EMA) of the weights: the EMA copy is what ships.

The prompt encoder is the tiny CLIP's text tower, frozen. Training stops at ``steps`` or at
``time_budget_s`` (the learning-rate schedule shrinks to fit). On one H100/H200 the shipped model
took about 4 minutes; on a CPU use a budget and expect a weaker model.
"""

from __future__ import annotations

import copy
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.world import World
from ..models.tiny_diffusion import TinyDiffusion, TinyDiffusionConfig, images_to_tensor


@dataclass
class TrainConfig:
    steps: int = 30_000
    batch_size: int = 512
    lr: float = 5e-4
    min_lr: float = 5e-5
    warmup: int = 300
    weight_decay: float = 0.0
    n_scenes: int = 150_000
    p_two_objects: float = 0.25      # share of two-object scenes ("a red circle left of a blue square")
    p_uncond: float = 0.1            # prompt dropped -> the unconditional model for guidance
    ema: float = 0.999
    seed: int = 0                    # world seeds 2*seed+100, +101 (eval uses 10_001+)
    threads: int = 1
    workers: int = 1                 # processes rendering the training scenes
    time_budget_s: float | None = None
    log_every: int = 250
    device: str = "cpu"
    eval_prompts: int = 200          # prompt accuracy measured at the end (0: skip)


def _lr(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * progress))


def _render(job: tuple[int, int, int, int]) -> tuple[np.ndarray, list[list[str]]]:
    seed, n_objects, start, count = job
    world = World(seed=seed, image_size=32, n_objects=n_objects)
    scenes = world.scenes(count, start=start)
    return np.stack([s.image for s in scenes]), [s.captions for s in scenes]


def training_scenes(cfg: TrainConfig) -> tuple[np.ndarray, list[list[str]]]:
    """``(images (N, 32, 32, 3) uint8, captions per image)`` of the training worlds."""
    n_two = int(round(cfg.n_scenes * cfg.p_two_objects))
    chunk = 5000
    jobs = [(2 * cfg.seed + 100, 1, s, min(chunk, cfg.n_scenes - n_two - s)) for s in range(0, cfg.n_scenes - n_two, chunk)]
    jobs += [(2 * cfg.seed + 101, 2, s, min(chunk, n_two - s)) for s in range(0, n_two, chunk)]
    if cfg.workers > 1:
        import multiprocessing as mp

        with mp.get_context("fork").Pool(cfg.workers) as pool:
            parts = pool.map(_render, jobs)
    else:
        parts = [_render(j) for j in jobs]
    images = np.concatenate([p[0] for p in parts])
    captions = [c for p in parts for c in p[1]]
    return images, captions


def train(cfg: TrainConfig, out: str | Path | None = None, log: Callable[[str], None] = print,
          clip_folder: str | Path | None = None) -> tuple[TinyDiffusion, dict]:
    """Train the model; write the model folder (weights, config, training.json) to ``out`` if given."""
    from ..models.tiny_clip import TinyClip
    from ..registry import get_spec

    torch.set_num_threads(max(1, int(cfg.threads)))
    torch.manual_seed(cfg.seed)
    started = time.perf_counter()
    device = torch.device(cfg.device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True

    images, captions = training_scenes(cfg)
    log(f"rendered {len(images):,} training scenes in {time.perf_counter() - started:.1f} s")

    clip_folder = Path(clip_folder) if clip_folder else get_spec("mmbench-tiny-clip").assets_path
    clip = TinyClip.load(clip_folder)
    config = TinyDiffusionConfig(text=asdict(clip.config))
    model = TinyDiffusion(config)
    model.text_encoder.tower.load_state_dict(clip.text.state_dict())
    del clip
    model.to(device)
    enc = model.text_encoder.eval()
    tok = enc.tokenizer

    # Caption ids (N, V, L): variant v of scene i; scenes with fewer variants repeat their first.
    n_var = np.array([len(c) for c in captions])
    V = int(n_var.max())
    ids = torch.stack([tok([c[v] if v < len(c) else c[0] for v in range(V)]) for c in captions])
    empty = tok([""])[0].to(device)
    data_x = torch.from_numpy(images).to(device)
    data_ids = ids.to(device)
    data_nvar = torch.from_numpy(n_var).to(device)

    unet = model.unet.train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    sched = model.train_scheduler()
    alphas = sched.alphas_cumprod.to(device)
    opt = torch.optim.AdamW(unet.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    n_params = sum(p.numel() for p in unet.parameters())
    log(f"UNet: {n_params:,} parameters; {cfg.steps} steps x {cfg.batch_size} on {device}")
    gen = torch.Generator(device).manual_seed(cfg.seed)
    amp = device.type == "cuda"

    history, total, step = [], cfg.steps, 0
    loss_sum = torch.zeros((), device=device)
    loop_start = time.perf_counter()
    for step in range(cfg.steps):
        if cfg.time_budget_s is not None and step > 50:  # shrink the schedule so it ends in the budget
            loop_budget = cfg.time_budget_s - (loop_start - started)
            elapsed = time.perf_counter() - loop_start
            total = max(step + 1, min(cfg.steps, int(step * loop_budget / max(1e-9, elapsed))))
            if step >= total or elapsed > loop_budget:
                break
        for g in opt.param_groups:
            g["lr"] = _lr(step, total, cfg)
        b = cfg.batch_size
        idx = torch.randint(len(images), (b,), device=device, generator=gen)
        var = (torch.rand(b, device=device, generator=gen) * data_nvar[idx]).long()
        batch_ids = data_ids[idx, var]
        drop = torch.rand(b, device=device, generator=gen) < cfg.p_uncond
        batch_ids = torch.where(drop[:, None], empty[None], batch_ids)
        with torch.no_grad():
            context, mask = enc(batch_ids)
        x0 = images_to_tensor(data_x[idx])
        noise = torch.randn(x0.shape, device=device, generator=gen)
        t = torch.randint(0, sched.config.num_train_timesteps, (b,), device=device, generator=gen)
        a = alphas[t].view(-1, 1, 1, 1)
        xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=amp):
            pred = unet(xt, t, encoder_hidden_states=context, encoder_attention_mask=mask).sample
        loss = F.mse_loss(pred.float(), noise)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
        opt.step()
        with torch.no_grad():
            decay = min(cfg.ema, (1 + step) / (10 + step))
            torch._foreach_lerp_(list(ema.parameters()), list(unet.parameters()), 1 - decay)
        loss_sum = loss.detach() if step % cfg.log_every == 0 else loss_sum + loss.detach()
        if (step + 1) % cfg.log_every == 0:
            row = {"step": step + 1, "loss": round(float(loss_sum) / cfg.log_every, 5),
                   "lr": round(opt.param_groups[0]["lr"], 6), "seconds": round(time.perf_counter() - started, 1)}
            history.append(row)
            log(json.dumps(row))
    steps_done = step + 1
    train_seconds = round(time.perf_counter() - loop_start, 1)
    model.unet = ema
    model.eval()

    summary = {"steps": steps_done, "train_seconds": train_seconds, "device": str(device),
               "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
               "params_unet": n_params, "params_text_encoder": sum(p.numel() for p in enc.parameters()),
               "n_scenes": len(images), "train_config": asdict(cfg)}
    out = Path(out) if out is not None else None

    def write() -> None:
        if out is not None:
            model.save(out)
            (out / "training.json").write_text(json.dumps({"summary": summary, "history": history}, indent=1))

    write()  # the weights are safe before the (optional) evaluation
    if cfg.eval_prompts:
        from ..eval.text_to_image import evaluate_model

        report = evaluate_model(model, n=cfg.eval_prompts, device=str(device))
        summary["eval"] = {k: v for k, v in report.items() if k != "rows"}
        log(f"eval: {json.dumps(summary['eval'])}")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    write()
    if out is not None:
        log(f"wrote {out}")
    return model, summary
