"""Train mmbench-tiny-clip on the procedural world (``mmbench train tiny-clip``).

Two losses, as in ALBEF/BLIP:

* a symmetric contrastive (InfoNCE) loss between image and caption embeddings, where each image
  also sees its own *hard negative* captions (colours swapped, relation flipped, one attribute
  changed) as extra wrong answers, and identical captions in a batch count as positives;
* an image-text matching (ITM) loss: a cross-attention head classifies (image, caption) pairs as
  match / no match, with half the pairs built from the same hard negatives. This is what learns
  attribute binding and spatial relations, which a bag-of-words-like dual encoder misses.

With ``dense_weight > 0`` a third, *dense alignment* loss ties the patch tokens to the objects
they show (the world knows every object's mask): each object's phrase ("a red circle") must
score highest on the patches inside that object (a spatial softmax over the image's patches), and
each patch covered by an object must match that object's phrase rather than the other phrases of
the batch. The patch tokens go through the same ``image_proj`` as the [CLS] token, so a text's
similarity to each patch is a map of where it is (the ``"patch-similarity"`` explanation method),
as in dense CLIP variants (MaskCLIP, SPARC).

Training data are generated on the fly (seed 0 family); evaluation uses other seeds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F

from ..data.world import COLOURS, SHAPES, SIZES, Scene, World, phrase, vocabulary
from ..models.tiny_clip import TinyClip, TinyClipConfig
from .loop import budgeted_total, record_step, save_training, warmup_cosine

#: Training draws scenes from World(seed=cfg.seed) with small seeds; evaluation uses seeds >= 10_001.
EVAL_SEEDS_START = 10_001


@dataclass
class TrainConfig:
    steps: int = 3000
    batch_size: int = 128
    lr: float = 1e-3
    min_lr: float = 5e-5
    warmup: int = 200
    weight_decay: float = 0.05
    itm_weight: float = 1.0
    dense_weight: float = 0.0  # patch-phrase alignment (0: off; the shipped model uses 1)
    n_negatives: int = 2
    object_mix: tuple[float, float, float] = (0.3, 0.5, 0.2)  # P(1, 2, 3 objects)
    seed: int = 0
    workers: int = 0
    time_budget_s: float | None = None  # stop early (cosine schedule still completes in-budget)
    eval_every: int = 500  # checkpoint every N steps (0: only at the end)
    log_every: int = 50
    device: str = "auto"
    model: dict | None = None  # overrides of TinyClipConfig fields
    init: str | None = None  # start from this weights folder (fine-tuning) instead of random weights


# ----------------------------------------------------------------------------- negatives
def hard_negatives(scene: Scene, rng: np.random.Generator, k: int) -> list[str]:
    """Up to ``k`` captions that are false for ``scene`` but share most of its words."""
    objs = scene.objects
    cands: list[str] = []
    if len(objs) == 1:
        o = objs[0]
        cands.append(phrase(_other(COLOURS, o.colour, rng), o.shape))
        cands.append(phrase(o.colour, _other(SHAPES, o.shape, rng)))
        cands.append(phrase(_other(COLOURS, o.colour, rng), _other(SHAPES, o.shape, rng)))
        cands.append(phrase(o.colour, o.shape, _other(SIZES, o.size, rng)))
    elif len(objs) == 2:
        i, rel, j = scene.relation
        a, b = objs[i], objs[j]
        swap = scene.colour_swapped_caption()
        if swap:
            cands += [swap, swap]  # weight the binding probes
        cands += [scene.relation_flipped_caption()] * 2
        if a.shape != b.shape:
            cands.append(f"{phrase(a.colour, b.shape)} {rel} {phrase(b.colour, a.shape)}")
        cands.append(f"{phrase(_other(COLOURS, a.colour, rng), a.shape)} {rel} {b.phrase()}")
        cands.append(f"{a.phrase()} {rel} {phrase(b.colour, _other(SHAPES, b.shape, rng))}")
        cands.append(f"{b.phrase()} {rel} {a.phrase()}")  # roles swapped = relation flipped
    else:
        ordered = sorted(objs, key=lambda o: o.cx)
        for _ in range(4):
            p, q = rng.choice(3, 2, replace=False)
            cols = [o.colour for o in ordered]
            cols[p], cols[q] = cols[q], cols[p]
            parts = [phrase(c, o.shape) for c, o in zip(cols, ordered)]
            cands.append(f"from left to right: {parts[0]}, {parts[1]} and {parts[2]}")
        perm = [ordered[x] for x in rng.permutation(3)]
        cands.append(f"from left to right: {perm[0].phrase()}, {perm[1].phrase()} and {perm[2].phrase()}")
    positives = set(scene.captions)
    cands = [c for c in cands if c not in positives]
    if not cands:
        return []
    pick = rng.choice(len(cands), size=min(k, len(cands)), replace=False)
    return [cands[p] for p in pick]


def _other(pool, value, rng):
    options = [x for x in pool if x != value]
    return options[rng.integers(len(options))]


def _positive_caption(scene: Scene, rng: np.random.Generator) -> str:
    caps = scene.captions
    # favour the canonical forms; keep every template in play
    weights = np.array([3.0] + [1.0] * (len(caps) - 1))
    if len(scene.objects) == 2:
        weights[-1] = 0.3  # "a and b" (no relation) is rarely the best description
    return caps[rng.choice(len(caps), p=weights / weights.sum())]


# ----------------------------------------------------------------------------- data
class SceneStream(torch.utils.data.IterableDataset):
    """Infinite stream of training batches, each generated in a worker process."""

    def __init__(self, batch_size: int, tokenizer, n_negatives: int, object_mix, seed: int,
                 patch_size: int | None = None) -> None:
        self.batch_size, self.tok, self.k, self.mix, self.seed = batch_size, tokenizer, n_negatives, object_mix, seed
        self.patch_size = patch_size  # set: also yield per-object phrases and patch coverage (dense loss)

    def __iter__(self) -> Iterator[dict]:
        info = torch.utils.data.get_worker_info()
        wid, nw = (info.id, info.num_workers) if info else (0, 1)
        world = World(seed=self.seed)
        rng = np.random.default_rng([self.seed, wid, 7])
        index = wid
        while True:
            imgs, pos, negs, has_neg, keys, objects = [], [], [], [], [], []
            for _ in range(self.batch_size):
                n_obj = int(rng.choice(3, p=self.mix)) + 1
                scene = world.scene(index, n_objects=n_obj)
                index += nw
                imgs.append(scene.image)
                cap = _positive_caption(scene, rng)
                pos.append(cap)
                keys.append(scene.caption)
                ng = hard_negatives(scene, rng, self.k)
                has_neg.append([1.0] * len(ng) + [0.0] * (self.k - len(ng)))
                negs.extend(ng + [cap] * (self.k - len(ng)))
                objects.append(scene)
            batch = {
                "images": torch.from_numpy(np.stack(imgs)),
                "pos": self.tok(pos),
                "neg": self.tok(negs).view(self.batch_size, self.k, -1),
                "has_neg": torch.tensor(has_neg),
                "key_id": _key_ids(keys),
            }
            if self.patch_size:
                batch.update(object_batch(objects, self.tok, self.patch_size, rng))
            yield batch


MAX_OBJECTS = 3


def patch_coverage(masks: np.ndarray, patch_size: int) -> np.ndarray:
    """Fraction of each patch covered by each object: ``(K, H, W)`` bool -> ``(K, H/p * W/p)``."""
    k, h, w = masks.shape
    p = patch_size
    return masks.reshape(k, h // p, p, w // p, p).mean(axis=(2, 4)).reshape(k, -1).astype(np.float32)


def object_batch(scenes: list[Scene], tokenizer, patch_size: int, rng: np.random.Generator) -> dict:
    """Per-object phrases (sometimes with the size word), validity, patch coverage and phrase ids."""
    phrases, valid, cover = [], [], []
    for scene in scenes:
        cov = patch_coverage(scene.masks, patch_size)
        for j in range(MAX_OBJECTS):
            if j < len(scene.objects):
                phrases.append(scene.objects[j].phrase(with_size=bool(rng.random() < 0.25)))
                valid.append(1.0)
                cover.append(cov[j])
            else:
                phrases.append("a")
                valid.append(0.0)
                cover.append(np.zeros(cov.shape[1], np.float32))
    b = len(scenes)
    return {"obj_ids": tokenizer(phrases).view(b, MAX_OBJECTS, -1), "obj_valid": torch.tensor(valid).view(b, -1),
            "obj_cover": torch.from_numpy(np.stack(cover)).view(b, MAX_OBJECTS, -1), "obj_key": _key_ids(phrases)}


def _key_ids(keys: list[str]) -> torch.Tensor:
    """Integer id per canonical caption, so equal captions in a batch can be treated as positives."""
    uniq: dict[str, int] = {}
    return torch.tensor([uniq.setdefault(k, len(uniq)) for k in keys])


# ----------------------------------------------------------------------------- loss
def dense_loss(model: TinyClip, img_tok: torch.Tensor, batch: dict, scale: torch.Tensor) -> torch.Tensor:
    """Patch-phrase alignment (see the module docstring); ``img_tok``: the vision tower's tokens."""
    ids, valid, cover, key = batch["obj_ids"], batch["obj_valid"], batch["obj_cover"], batch["obj_key"]
    b, k, length = ids.shape
    patches = F.normalize(model.image_proj(img_tok[:, 1:]), dim=-1)  # (b, P, D)
    phrases = F.normalize(model.encode_text(ids.view(b * k, length)), dim=-1)  # (b*k, D)
    # text -> patches: a spatial softmax over the image's patches; the object's patches are right
    own = scale * torch.einsum("bpd,bkd->bkp", patches, phrases.view(b, k, -1)).float()  # (b, k, P)
    inside = cover >= 0.5
    inside = inside | ((cover > 0) & ~inside.any(-1, keepdim=True))  # small objects: any covered patch
    ok = (valid > 0) & inside.any(-1)
    t2p = own.logsumexp(-1) - own.masked_fill(~inside, -1e4).logsumexp(-1)  # finite: no NaN gradients
    loss_t2p = t2p[ok].mean()
    # patch -> phrases of the batch: a covered patch matches its object's phrase (equal phrases agree)
    owner = cover.argmax(1)  # (b, P) object index per patch
    covered = cover.max(1).values >= 0.5
    logits = scale * (patches[covered] @ phrases.T).float()  # (n, b*k)
    logits = logits.masked_fill(valid.view(1, -1) == 0, -1e4)
    rows = torch.arange(b, device=ids.device)[:, None].expand_as(owner)[covered]
    target_key = key.view(b, k)[rows, owner[covered]]
    positive = (key.view(1, -1) == target_key[:, None]) & (valid.view(1, -1) > 0)
    loss_p2t = -(logits.log_softmax(-1).masked_fill(~positive, -1e4).logsumexp(-1)).mean()
    return (loss_t2p + loss_p2t) / 2


def losses(model: TinyClip, batch: dict, itm_weight: float, dense_weight: float = 0.0) -> dict[str, torch.Tensor]:
    pixels = model.normalise(batch["images"])
    pos, neg, has_neg = batch["pos"], batch["neg"], batch["has_neg"]
    b, k, length = neg.shape
    img_emb, img_tok = model.encode_image(pixels, tokens=True)
    all_ids = torch.cat([pos, neg.view(b * k, length)])
    txt_emb, txt_tok = model.encode_text(all_ids, tokens=True)
    img_n = F.normalize(img_emb, dim=-1)
    txt_n = F.normalize(txt_emb, dim=-1)
    pos_n, neg_n = txt_n[:b], txt_n[b:].view(b, k, -1)
    scale = model.logit_scale.exp().clamp(max=100)

    # positives: identical canonical captions in the batch describe equivalent scenes
    kid = batch["key_id"]
    same = (kid[:, None] == kid[None, :]).float()
    i2t = scale * img_n @ pos_n.T
    hard = scale * torch.einsum("bd,bkd->bk", img_n, neg_n)
    hard = hard.masked_fill(has_neg == 0, float("-inf"))
    logits_i2t = torch.cat([i2t, hard], dim=1)
    target_i2t = torch.cat([same, torch.zeros_like(hard)], dim=1)
    target_i2t = target_i2t / target_i2t.sum(1, keepdim=True)
    loss_i2t = -(target_i2t * logits_i2t.log_softmax(1).nan_to_num(neginf=0.0)).sum(1).mean()
    t2i = i2t.T
    loss_t2i = -((same / same.sum(1, keepdim=True)) * t2i.log_softmax(1)).sum(1).mean()
    loss_con = (loss_i2t + loss_t2i) / 2

    # ITM: every positive pair + one negative per image (own hard negative, or the hardest
    # in-batch caption of another scene).
    with torch.no_grad():
        sim = (img_n @ pos_n.T).masked_fill(same.bool(), float("-inf"))
        hardest = sim.argmax(1)
        choose_hard = (torch.rand(b, device=pixels.device) < 0.75) & (has_neg[:, 0] > 0)
    neg_tok_own = txt_tok[b:].view(b, k, length, -1)[:, 0]
    neg_ids_own = neg[:, 0]
    neg_tok = torch.where(choose_hard[:, None, None], neg_tok_own, txt_tok[:b][hardest])
    neg_ids = torch.where(choose_hard[:, None], neg_ids_own, pos[hardest])
    tok = torch.cat([txt_tok[:b], neg_tok])
    ids = torch.cat([pos, neg_ids])
    img_tok2 = torch.cat([img_tok, img_tok])
    logits = model.itm(tok, ids, img_tok2)
    labels = torch.cat([torch.ones(b), torch.zeros(b)]).to(logits.device)
    loss_itm = F.binary_cross_entropy_with_logits(logits.float(), labels)
    itm_acc = ((logits > 0).float() == labels).float().mean()
    out = {"loss": loss_con + itm_weight * loss_itm, "contrastive": loss_con, "itm": loss_itm, "itm_acc": itm_acc}
    if dense_weight > 0:
        out["dense"] = dense_loss(model, img_tok, batch, scale)
        out["loss"] = out["loss"] + dense_weight * out["dense"]
    return out


# ----------------------------------------------------------------------------- loop
def default_model_config(**overrides) -> TinyClipConfig:
    return TinyClipConfig(vocab=vocabulary(), **overrides)


def train(cfg: TrainConfig, out_dir: str | Path | None = None,
          log: Callable[[str], None] = print, model: TinyClip | None = None) -> tuple[TinyClip, dict]:
    """Train (or continue training ``model``) and optionally save to ``out_dir``.

    Returns the model (eval mode, on CPU) and a summary dict (steps, seconds, final losses).
    """
    from ..device import resolve_device

    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    if model is None and cfg.init:
        model = TinyClip.load(cfg.init)
    model = model or TinyClip(default_model_config(**(cfg.model or {})))
    model.to(device).train()
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "pos" not in n]
    no_decay = [p for n, p in model.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    stream = SceneStream(cfg.batch_size, model.tokenizer, cfg.n_negatives, cfg.object_mix, cfg.seed,
                         patch_size=model.config.patch_size if cfg.dense_weight > 0 else None)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                                         persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers else None)
    use_amp = device.type == "cuda"
    start = time.time()
    total = cfg.steps
    history = []
    step = 0
    for step, batch in enumerate(loader, start=1):
        total = budgeted_total(step, total, cfg.steps, cfg.time_budget_s, time.time() - start, after=20)
        lr = warmup_cosine(step, total, lr=cfg.lr, min_lr=cfg.min_lr, warmup=cfg.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_amp):
            out = losses(model, batch, cfg.itm_weight, cfg.dense_weight)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % cfg.log_every == 0 or step == 1 or step >= total:
            record_step(out, step=step, lr=lr, seconds=time.time() - start, total=total, history=history, log=log)
        if cfg.eval_every and step % cfg.eval_every == 0 and out_dir is not None:
            model.save(out_dir)  # checkpoint (weights are copied to CPU by save)
        if step >= total:
            break
    model.eval().to("cpu")
    summary = {"steps": step, "seconds": round(time.time() - start, 1), "device": str(device),
               "train_config": asdict(cfg), "last": history[-1] if history else {}}
    if out_dir is not None:
        save_training(model, out_dir, summary, history)
    return model, summary


