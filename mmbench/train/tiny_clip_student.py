"""Distil mmbench-tiny-clip into a student a quarter of its size (``mmbench train tiny-clip-student``).

The student is a :class:`~mmbench.models.tiny_clip.TinyClip` with a smaller config
(:data:`STUDENT_CONFIG`: the teacher's width 160, 4 instead of 6 vision layers, 2 instead of 3 text
layers, MLPs of 160 instead of 640 hidden units, no matching-head layers: a dual encoder, 0.23 of
the teacher's parameters), initialised from the teacher's weights (:func:`init_from_teacher`: the
kept layers, DistilBERT-style, with each MLP pruned to its most important hidden units, plus the
embeddings, layer norms and projections), so that a CPU-sized run can start close to the teacher.
It trains on scenes
of the procedural world generated on the fly (the teacher's
:class:`~mmbench.train.tiny_clip.SceneStream`, with the same hard negative captions: colours swapped,
relation flipped, one attribute changed), against the frozen teacher (Hinton et al. 2015; TinyCLIP,
Wu et al. 2023, for the CLIP-specific terms). The loss is the sum of

* **embedding distillation**: ``1 - cos`` between the student's and the teacher's image embeddings,
  and between their text embeddings of every caption of the batch, hard negatives included (this is
  what carries the teacher's attribute binding over to the student's dual encoder);
* **similarity distillation**: KL divergence between the teacher's and the student's image->text
  (over the batch's captions plus the image's own hard negatives) and text->image softmaxes, at a
  temperature ``kd_temperature`` (``T**2``-scaled, as usual);
* the **contrastive loss** of the teacher's training (InfoNCE, identical captions counted as
  positives, hard negatives as extra wrong answers), on the ground truth;
* for a student configured with a matching head (``itm_layers > 0``), the **matching loss** of its
  ITM head on (image, caption) pairs (positives and one hard negative each): binary cross-entropy on
  the ground truth, plus, with ``itm_distill``,
  binary cross-entropy towards the teacher head's match probability at ``kd_temperature`` (off by
  default: the teacher's 4-layer head costs ~15% more time per CPU step).

Training uses world seed ``cfg.seed`` (small seeds); evaluation (``mmbench eval matching``) uses
seeds >= 10_001, never seen here.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F

from ..models.tiny_clip import TinyClip
from .loop import budgeted_total, record_step, save_training, warmup_cosine
from .tiny_clip import SceneStream, default_model_config

#: Overrides of :class:`~mmbench.models.tiny_clip.TinyClipConfig` for the student (1.06 M parameters,
#: 0.23 of the teacher's 4.56 M): the teacher's width, 4 of its 6 vision layers, 2 of its 3 text
#: layers, MLPs pruned from 640 to 160 hidden units, no matching-head layers (a dual encoder).
STUDENT_CONFIG: dict = {"vision_layers": 4, "text_layers": 2, "itm_layers": 0, "mlp_ratio": 1}


@dataclass
class TrainConfig:
    steps: int = 2000
    batch_size: int = 64
    lr: float = 1e-3
    min_lr: float = 5e-5
    warmup: int = 20
    weight_decay: float = 0.05
    teacher: str = "mmbench-tiny-clip"  # registry row (offline tier) or a weights folder
    embed_weight: float = 4.0  # 1 - cos to the teacher's embeddings
    kd_weight: float = 1.0  # KL of the similarity softmaxes
    kd_temperature: float = 2.0
    contrastive_weight: float = 1.0
    itm_weight: float = 1.0  # ground-truth ITM loss of the student's matching head
    itm_distill: bool = False  # also match the teacher head's probabilities (+~15% time per step)
    n_negatives: int = 2
    object_mix: tuple[float, float, float] = (0.3, 0.5, 0.2)
    seed: int = 0
    workers: int = 0
    threads: int | None = None  # torch CPU threads (None: torch's default)
    time_budget_s: float | None = None  # shrink the cosine schedule so that it ends inside the budget
    log_every: int = 25
    eval_every: int = 500  # checkpoint every N steps (0: only at the end)
    device: str = "auto"
    model: dict = field(default_factory=lambda: dict(STUDENT_CONFIG))  # TinyClipConfig overrides
    init_from_teacher: bool = True  # copy the teacher's weights into the student (needs the same widths)
    vision_keep: tuple[int, ...] = (0, 1, 2, 5)  # the teacher's vision layers copied into the student's
    text_keep: tuple[int, ...] = (0, 1)  # the teacher's text layers copied into the student's


def load_teacher(name_or_folder: str) -> TinyClip:
    """The frozen teacher: a registry row's assets folder, or a folder with model.safetensors."""
    folder = Path(name_or_folder)
    if not (folder / "model.safetensors").is_file():
        from ..registry import get_spec

        folder = get_spec(name_or_folder).assets_path
    teacher = TinyClip.load(folder)
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def param_count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def new_student(**overrides) -> TinyClip:
    """A randomly initialised student (:data:`STUDENT_CONFIG`, plus ``overrides``)."""
    return TinyClip(default_model_config(**{**STUDENT_CONFIG, **overrides}))


def init_from_teacher(student: TinyClip, teacher: TinyClip, vision_keep, text_keep) -> None:
    """Copy the teacher's weights into the student: block ``i`` of each tower takes the teacher's block
    ``vision_keep[i]`` / ``text_keep[i]``, every other tensor (patch and token embeddings, positions,
    layer norms, projections, temperature) its namesake (DistilBERT's layer-dropping initialisation)."""
    keep = {"visual": list(vision_keep), "text": list(text_keep)}
    source = teacher.state_dict()
    state = {}
    for name, value in student.state_dict().items():
        parts = name.split(".")
        if parts[0] in keep and parts[1] == "blocks":
            parts[2] = str(keep[parts[0]][int(parts[2])])
        src = source.get(".".join(parts))
        if src is not None and src.shape != value.shape and parts[-2] in ("0", "2") and parts[-3] == "mlp":
            src = _pruned_mlp(source, ".".join(parts[:-2]), parts[-2], parts[-1], value.shape[0 if parts[-2] == "0" else 1])
        state[name] = src.clone() if src is not None and src.shape == value.shape else value
    student.load_state_dict(state)


def _pruned_mlp(source: dict, mlp: str, layer: str, kind: str, hidden: int) -> torch.Tensor:
    """The teacher MLP's ``hidden`` most important hidden units (structured pruning: the product of
    each unit's input- and output-weight norms)."""
    w_in, w_out = source[f"{mlp}.0.weight"], source[f"{mlp}.2.weight"]
    idx = (w_in.norm(dim=1) * w_out.norm(dim=0)).topk(hidden).indices.sort().values
    tensor = source[f"{mlp}.{layer}.{kind}"]
    if layer == "0":
        return tensor[idx]
    return tensor[:, idx] if kind == "weight" else tensor


def _soft_ce(logits: torch.Tensor, target_logits: torch.Tensor, t: float) -> torch.Tensor:
    """KL(teacher || student) of row softmaxes at temperature ``t`` (``-inf`` columns allowed), x t**2."""
    p = (target_logits / t).softmax(-1)
    logq = (logits / t).log_softmax(-1)
    logp = (target_logits / t).log_softmax(-1)
    kl = (p * (logp - logq)).nan_to_num(nan=0.0, neginf=0.0, posinf=0.0).sum(-1)
    return kl.mean() * t * t


def distill_losses(student: TinyClip, teacher: TinyClip, batch: dict, cfg: TrainConfig) -> dict[str, torch.Tensor]:
    """All loss terms for one batch of :class:`~mmbench.train.tiny_clip.SceneStream`."""
    pixels = student.normalise(batch["images"])
    pos, neg, has_neg = batch["pos"], batch["neg"], batch["has_neg"]
    b, k, length = neg.shape
    all_ids = torch.cat([pos, neg.view(b * k, length)])
    kid = batch["key_id"]
    same = (kid[:, None] == kid[None, :]).float()

    # ITM pairs: every positive + one negative per image (its own hard negative, else the hardest
    # in-batch caption of another scene by the teacher's similarity).
    with torch.no_grad():
        t_img, t_img_tok = teacher.encode_image(teacher.normalise(batch["images"]), tokens=True)
        t_txt, t_txt_tok = teacher.encode_text(all_ids, tokens=True)
        t_img, t_txt = F.normalize(t_img, dim=-1), F.normalize(t_txt, dim=-1)
        t_scale = teacher.logit_scale.exp().clamp(max=100)
        sim = (t_img @ t_txt[:b].T).masked_fill(same.bool(), float("-inf"))
        hardest = sim.argmax(1)
        use_own = has_neg[:, 0] > 0
        pair_ids = torch.cat([pos, torch.where(use_own[:, None], neg[:, 0], pos[hardest])])
        t_pair_tok = None if not cfg.itm_distill else torch.cat([t_txt_tok[:b], torch.where(use_own[:, None, None],
                                                         t_txt_tok[b:].view(b, k, length, -1)[:, 0],
                                                         t_txt_tok[:b][hardest])])
        t_itm = teacher.itm(t_pair_tok, pair_ids, torch.cat([t_img_tok, t_img_tok])) if cfg.itm_distill else None

    s_img, s_img_tok = student.encode_image(pixels, tokens=True)
    s_txt, s_txt_tok = student.encode_text(all_ids, tokens=True)
    s_img, s_txt = F.normalize(s_img, dim=-1), F.normalize(s_txt, dim=-1)
    s_scale = student.logit_scale.exp().clamp(max=100)

    embed = (1 - (s_img * t_img).sum(-1)).mean() + (1 - (s_txt * t_txt).sum(-1)).mean()

    def i2t_logits(img, txt, scale):
        hard = scale * torch.einsum("bd,bkd->bk", img, txt[b:].view(b, k, -1))
        return torch.cat([scale * img @ txt[:b].T, hard.masked_fill(has_neg == 0, float("-inf"))], dim=1)

    s_i2t, t_i2t = i2t_logits(s_img, s_txt, s_scale), i2t_logits(t_img, t_txt, t_scale)
    kd = (_soft_ce(s_i2t, t_i2t, cfg.kd_temperature) + _soft_ce(s_i2t[:, :b].T, t_i2t[:, :b].T, cfg.kd_temperature)) / 2

    target = torch.cat([same, torch.zeros_like(has_neg)], dim=1)
    target = target / target.sum(1, keepdim=True)
    loss_i2t = -(target * s_i2t.log_softmax(1).nan_to_num(neginf=0.0)).sum(1).mean()
    loss_t2i = -((same / same.sum(1, keepdim=True)) * s_i2t[:, :b].T.log_softmax(1)).sum(1).mean()
    contrastive = (loss_i2t + loss_t2i) / 2

    loss = cfg.embed_weight * embed + cfg.kd_weight * kd + cfg.contrastive_weight * contrastive
    out = {"embed": embed, "kd": kd, "contrastive": contrastive, "cos_img": (s_img * t_img).sum(-1).mean(),
           "cos_txt": (s_txt * t_txt).sum(-1).mean()}
    if student.config.itm_layers > 0:  # a student with its own matching head
        s_pair_tok = torch.cat([s_txt_tok[:b], torch.where(use_own[:, None, None], s_txt_tok[b:].view(b, k, length, -1)[:, 0],
                                                         s_txt_tok[:b][hardest])])
        s_itm = student.itm(s_pair_tok, pair_ids, torch.cat([s_img_tok, s_img_tok]))
        labels = torch.cat([torch.ones(b), torch.zeros(b)]).to(s_itm.device)
        itm = F.binary_cross_entropy_with_logits(s_itm, labels)
        if t_itm is not None:
            itm = itm + F.binary_cross_entropy_with_logits(s_itm / cfg.kd_temperature,
                                                           torch.sigmoid(t_itm / cfg.kd_temperature))
        out.update(itm=itm, itm_acc=((s_itm > 0).float() == labels).float().mean())
        loss = loss + cfg.itm_weight * itm
    return {"loss": loss, **out}


def train(cfg: TrainConfig, out_dir: str | Path | None = None,
          log: Callable[[str], None] = print, model: TinyClip | None = None) -> tuple[TinyClip, dict]:
    """Distil the teacher into a student; save it (fp16 safetensors + config) to ``out_dir``.

    Returns the student (eval mode, on CPU) and a summary dict (steps, seconds, parameter ratio,
    final losses); ``out_dir/training.json`` also holds the loss history.
    """
    from ..device import resolve_device

    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    device = resolve_device(cfg.device)
    teacher = load_teacher(cfg.teacher).to(device)
    student = model or new_student(**(cfg.model or {}))
    if model is None and cfg.init_from_teacher:
        init_from_teacher(student, teacher, cfg.vision_keep, cfg.text_keep)
    with torch.no_grad():  # start from the teacher's temperature
        student.logit_scale.copy_(teacher.logit_scale)
    student.to(device).train()
    ratio = param_count(student) / param_count(teacher)
    log(f"student {param_count(student):,} parameters = {ratio:.3f} of the teacher's {param_count(teacher):,}")
    decay = [p for n, p in student.named_parameters() if p.ndim >= 2 and "pos" not in n]
    no_decay = [p for n, p in student.named_parameters() if not (p.ndim >= 2 and "pos" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98))
    stream = SceneStream(cfg.batch_size, student.tokenizer, cfg.n_negatives, cfg.object_mix, cfg.seed)
    loader = torch.utils.data.DataLoader(stream, batch_size=None, num_workers=cfg.workers,
                                         persistent_workers=cfg.workers > 0, prefetch_factor=4 if cfg.workers else None)
    start = time.time()
    total, step, history = cfg.steps, 0, []
    for step, batch in enumerate(loader, start=1):
        total = budgeted_total(step, total, cfg.steps, cfg.time_budget_s, time.time() - start, after=10)
        lr = warmup_cosine(step, total, lr=cfg.lr, min_lr=cfg.min_lr, warmup=cfg.warmup)
        for g in opt.param_groups:
            g["lr"] = lr
        batch = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        out = distill_losses(student, teacher, batch, cfg)
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
        opt.step()
        if step % cfg.log_every == 0 or step == 1 or step >= total:
            record_step(out, step=step, lr=lr, seconds=time.time() - start, total=total, history=history, log=log)
        if cfg.eval_every and step % cfg.eval_every == 0 and out_dir is not None:
            student.save(out_dir)
        if step >= total:
            break
    student.eval().to("cpu")
    summary = {"steps": step, "seconds": round(time.time() - start, 1), "device": str(device),
               "threads": torch.get_num_threads(), "student_params": param_count(student),
               "teacher_params": param_count(teacher), "student_params_ratio": round(ratio, 4),
               "train_config": asdict(cfg), "last": history[-1] if history else {}}
    if out_dir is not None:
        save_training(student, out_dir, summary, history)
    return student, summary


