"""Train mmbench-tiny-captioner on the procedural world (``mmbench train tiny-captioner``).

Recipe, in the order it runs:

1. Render ``n_scenes`` scenes (``World(seed)``, seeds below 10 000; evaluation uses 10 001+) and run
   them once through the frozen tiny CLIP vision tower; the patch tokens are kept in memory
   (float16). The encoder never changes, so it never runs again: every training step is decoder-only.
2. Each step draws ``batch_size`` (scene, target) pairs: with probability ``caption_share`` the
   target is a caption (the canonical one most of the time, another template otherwise), else a
   question about the scene with its answer (:mod:`mmbench.data.questions`). A sequence is
   ``[BOS] question [SEP] answer [EOS]``; the loss is next-token cross-entropy on the answer part.
3. AdamW with warm-up and a cosine schedule; at the end the decoder is scored on validation scenes
   (another training-range seed) and written with its ``training.json``.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from ..data.questions import question_vocabulary, scene_questions
from ..data.world import Scene, World
from ..models.tiny_captioner import EOS, PAD, TinyCaptioner, TinyCaptionerConfig

#: Training scenes come from World(seed) with seed < 10 000; held-out evaluation uses 10 001+.
EVAL_SEEDS_START = 10_001
VALIDATION_SEED = 9_001


@dataclass
class TrainConfig:
    n_scenes: int = 12_000  # scenes encoded once by the frozen encoder
    steps: int = 1000
    batch_size: int = 256
    lr: float = 2e-3
    min_lr: float = 5e-5
    warmup: int = 100
    weight_decay: float = 0.05
    targets_per_image: int = 4  # sequences per image in a batch (batch_size / this = images per step)
    length_buckets: int = 2  # a batch is padded in this many length groups
    caption_share: float = 0.4  # fraction of targets that are captions (the rest: questions)
    canonical_share: float = 0.75  # of the captions, fraction in the canonical template
    kind_weights: dict = field(default_factory=lambda: {"colour": 2.0, "exists": 2.0})  # question kinds' weights
    object_mix: tuple[float, float, float] = (0.25, 0.35, 0.40)  # P(1, 2, 3 objects)
    seed: int = 0
    threads: int = 1
    time_budget_s: float | None = None  # stop early (the schedule is shrunk to fit)
    log_every: int = 100
    n_validation: int = 300
    encode_batch: int = 128
    device: str = "cpu"
    model: dict | None = None  # overrides of TinyCaptionerConfig fields
    feature_cache: str | None = None  # .pt file to reuse encoded scenes between runs (development)


# ----------------------------------------------------------------------------- data
def scene_pool(cfg: TrainConfig) -> list[Scene]:
    world = World(seed=cfg.seed)
    rng = np.random.default_rng([cfg.seed, 11])
    counts = rng.choice(3, size=cfg.n_scenes, p=cfg.object_mix) + 1
    return [world.scene(i, n_objects=int(k)) for i, k in enumerate(counts)]


def encode_scenes(encoder, scenes: list[Scene], batch: int = 128, device="cpu",
                  log: Callable[[str], None] | None = None) -> torch.Tensor:
    """Frozen tiny CLIP vision tokens of every scene, ``(N, 65, 160)`` float16."""
    out = []
    started = time.perf_counter()
    with torch.inference_mode():
        for i in range(0, len(scenes), batch):
            imgs = torch.from_numpy(np.stack([s.image for s in scenes[i:i + batch]])).to(device)
            out.append(encoder.visual(encoder.normalise(imgs)).to("cpu", torch.float16))
            if log and (i // batch) % 20 == 0:
                log(f"encoded {i + len(out[-1])}/{len(scenes)} scenes ({time.perf_counter() - started:.0f} s)")
    return torch.cat(out)


def targets_for(scene: Scene, rng: np.random.Generator) -> tuple[dict[str, list[tuple[str, str]]], list[str]]:
    """``({question kind: [(question, answer)]}, captions)`` a scene can be trained on. Relation
    questions are split into ``relation`` (an object is there) and ``nothing`` (none is)."""
    qas: dict[str, list[tuple[str, str]]] = {}
    for qa in scene_questions(scene, rng):
        kind = "nothing" if qa.answer == "nothing" else qa.kind
        qas.setdefault(kind, []).append((qa.question, qa.answer))
    return qas, list(scene.captions)


def make_sequences(tok, scenes_targets, idx: np.ndarray, rng: np.random.Generator, cfg: TrainConfig,
                   max_length: int) -> list[tuple[list[int], int]]:
    """One ``(token ids, index of the last prefix token)`` training sequence per entry of ``idx``."""
    out = []
    for i in idx:
        qas, caps = scenes_targets[i]
        if rng.random() < cfg.caption_share:
            if rng.random() < cfg.canonical_share or len(caps) == 1:
                cap = caps[0]
            else:
                rest = [c for c in caps[1:] if " and " not in c or c.startswith("from")] or caps[1:]
                cap = rest[rng.integers(len(rest))]
            prefix, answer = tok.prefix(""), tok.encode(cap)
        else:
            # each kind of question about equally often (a scene has many more relation questions than
            # colour or count ones), "nothing" answers at most as often as one other kind; finding an
            # object by its shape ("what colour is the ring?") and binding ("is there a red ring?") are
            # learnt last, so they are drawn more
            kinds = list(qas)
            w = np.array([cfg.kind_weights.get(k, 1.0) for k in kinds])
            pool = qas[kinds[rng.choice(len(kinds), p=w / w.sum())]]
            q, a = pool[rng.integers(len(pool))]
            prefix, answer = tok.prefix(q), tok.encode(a)
        out.append(((prefix + answer + [EOS])[:max_length + 1], len(prefix) - 1))
    return out


def pad_batch(seqs: list[tuple[list[int], int]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids ``(B, L)`` and next-token labels (``-100`` outside the answer and on padding)."""
    width = max(len(s) for s, _ in seqs) - 1
    ids = torch.full((len(seqs), width), PAD, dtype=torch.long)
    labels = torch.full((len(seqs), width), -100, dtype=torch.long)
    for r, (seq, start) in enumerate(seqs):
        ids[r, : len(seq) - 1] = torch.tensor(seq[:-1])
        labels[r, start: len(seq) - 1] = torch.tensor(seq[start + 1:])
    return ids, labels


def lr_at(step: int, total: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    t = min(1.0, (step - cfg.warmup) / max(1, total - cfg.warmup))
    return cfg.min_lr + 0.5 * (cfg.lr - cfg.min_lr) * (1 + math.cos(math.pi * t))


# ----------------------------------------------------------------------------- training
def train(cfg: TrainConfig, out: str | Path | None, log: Callable[[str], None] = print,
          encoder_name: str = "mmbench-tiny-clip") -> tuple[TinyCaptioner, dict]:
    """Train a captioner; write it to ``out`` (unless None). Returns ``(model, summary)``."""
    from ..backends.tiny_captioner import load_encoder

    torch.set_num_threads(max(1, int(cfg.threads)))
    started = time.perf_counter()
    torch.manual_seed(cfg.seed)
    device = torch.device(cfg.device)
    encoder, sha = load_encoder(encoder_name, device)
    mcfg = TinyCaptionerConfig(vocab=question_vocabulary(), encoder=encoder_name, encoder_sha256=sha,
                               encoder_width=encoder.config.vision_width,
                               grid=encoder.config.image_size // encoder.config.patch_size, **(cfg.model or {}))
    model = TinyCaptioner(mcfg).to(device)
    tok = model.tokenizer

    scenes = scene_pool(cfg)
    cache = Path(cfg.feature_cache) if cfg.feature_cache else None
    key = f"{cfg.seed}-{cfg.n_scenes}-{cfg.object_mix}-{sha}"
    if cache is not None and cache.is_file() and torch.load(cache, weights_only=True).get("key") == key:
        feats = torch.load(cache, weights_only=True)["features"]
        log(f"loaded {len(feats)} encoded scenes from {cache}")
    else:
        feats = encode_scenes(encoder, scenes, cfg.encode_batch, device, log)
        if cache is not None:
            torch.save({"key": key, "features": feats}, cache)
    encode_s = time.perf_counter() - started
    rng = np.random.default_rng([cfg.seed, 23])
    targets = [targets_for(s, rng) for s in scenes]

    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "pos" not in n]
    other = [p for n, p in model.named_parameters() if p.dim() < 2 or "pos" in n]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": other, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    total = cfg.steps
    history: list[dict] = []
    train_started = time.perf_counter()
    model.train()
    done = 0
    for step in range(cfg.steps):
        if cfg.time_budget_s is not None and step > 20:
            elapsed = time.perf_counter() - started
            per_step = (time.perf_counter() - train_started) / step
            affordable = step + int(max(0.0, cfg.time_budget_s - elapsed) / per_step)
            total = min(cfg.steps, max(step + 1, affordable))
            if step >= total:
                break
        for group in opt.param_groups:
            group["lr"] = lr_at(step, total, cfg)
        # several targets per image: the image's keys/values are computed once for all of them
        images = rng.integers(len(scenes), size=max(1, cfg.batch_size // cfg.targets_per_image))
        owner = np.repeat(np.arange(len(images)), cfg.targets_per_image)
        seqs = make_sequences(tok, targets, images[owner], rng, cfg, mcfg.max_length)
        order = np.argsort([len(q) for q, _ in seqs], kind="stable")
        n_tokens = sum(len(q) - 1 - start for q, start in seqs)
        memory_in = feats[images].to(device, torch.float32)
        opt.zero_grad(set_to_none=True)
        loss_sum = 0.0
        for chunk in np.array_split(order, cfg.length_buckets):  # short and long sequences padded apart
            ids, labels = pad_batch([seqs[j] for j in chunk])
            logits = model(memory_in, ids.to(device), image_index=torch.as_tensor(owner[chunk], device=device))
            loss = F.cross_entropy(logits.flatten(0, 1), labels.to(device).flatten(), ignore_index=-100,
                                   reduction="sum") / n_tokens
            loss.backward()
            loss_sum += loss.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        loss = torch.tensor(loss_sum)
        done = step + 1
        if step % cfg.log_every == 0 or step == cfg.steps - 1:
            history.append({"step": step, "loss": round(loss.item(), 4), "lr": round(lr_at(step, total, cfg), 6)})
            log(f"step {step}/{total} loss {loss.item():.4f} ({time.perf_counter() - started:.0f} s)")
    model.eval()
    train_s = time.perf_counter() - train_started

    summary = {"model": "mmbench-tiny-captioner", "steps": done, "n_scenes": cfg.n_scenes,
               "encode_seconds": round(encode_s, 1), "train_seconds": round(train_s, 1),
               "params": sum(p.numel() for n, p in model.named_parameters() if n != "head.weight"),
               "final_loss": history[-1]["loss"] if history else None}
    if cfg.n_validation:
        summary["validation"] = validate(model, encoder, cfg.n_validation, device)
        log(f"validation: {summary['validation']}")
    summary["seconds"] = round(time.perf_counter() - started, 1)
    if out is not None:
        out = Path(out)
        model.save(out)
        (out / "training.json").write_text(json.dumps({"config": asdict(cfg), "summary": summary,
                                                        "history": history, "torch": torch.__version__}, indent=2))
        log(f"wrote {out}")
    return model, summary


def validate(model: TinyCaptioner, encoder, n: int, device="cpu") -> dict:
    """Greedy captions and answers on ``n`` validation scenes (seed 9001, not the evaluation seeds)."""
    from ..eval.captioning import attribute_match, corpus_bleu

    scenes = World(seed=VALIDATION_SEED).scenes(n)
    feats = encode_scenes(encoder, scenes, device=device).to(device, torch.float32)
    tok = model.tokenizer
    with torch.inference_mode():
        caps = [tok.decode(ids) for ids in model.generate(feats, tok.prefix(""), max_new_tokens=30)]
    match = float(np.mean([attribute_match(c, s) for c, s in zip(caps, scenes)]))
    bleu = corpus_bleu(caps, [s.captions for s in scenes])
    rng = np.random.default_rng(5)
    correct = []
    with torch.inference_mode():
        for i, s in enumerate(scenes):
            qas = scene_questions(s, rng)
            qa = qas[rng.integers(len(qas))]
            ans = tok.decode(model.generate(feats[i:i + 1], tok.prefix(qa.question), max_new_tokens=6)[0])
            correct.append(ans == qa.answer)
    return {"attribute_match": round(match, 4), "bleu4": round(bleu, 4), "vqa_accuracy": round(float(np.mean(correct)), 4)}
