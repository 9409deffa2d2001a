"""Pruning of the tiny CLIP with a short fine-tune on the procedural world (``prune-magnitude``,
``prune-structured``).

* **Magnitude** (unstructured): ``torch.nn.utils.prune.global_unstructured`` with the L1 criterion
  zeroes the ``amount`` smallest weights over every ``nn.Linear`` of the model at once (layers with
  small weights lose more). Dense kernels still multiply the zeros: the model is no faster and,
  stored densely, no smaller; the gain needs sparse kernels or sparse storage (``nonzero_fraction``
  says how much there is to gain).
* **Structured**: removes whole hidden units of every transformer MLP (``amount`` of them: 0.25,
  0.5 or 0.75), the units with the smallest product of input- and output-weight norms, so the layers
  are physically smaller: fewer parameters, less disk and less time.

Then a short fine-tune (``finetune_steps``) on scenes generated from training seeds of the
procedural world, with the loss that distilled the student (:func:`mmbench.train.tiny_clip_student.distill_losses`:
embedding and similarity distillation from the unpruned model, the contrastive loss, the matching
head's loss), the pruning masks held fixed. Evaluation seeds are never seen.
"""

from __future__ import annotations

import copy
import time
from typing import Any, Callable

from ..errors import CompressionError

PRUNE_METHODS = ("prune-magnitude", "prune-structured")
STRUCTURED_AMOUNTS = (0.25, 0.5, 0.75)


def _tiny_clip(backend: Any) -> Any:
    from ..models.tiny_clip import TinyClip

    model = getattr(backend, "model", None)
    if not isinstance(model, TinyClip):
        name = getattr(getattr(backend, "spec", None), "name", type(backend).__name__)
        raise CompressionError(f"Pruning with a fine-tune is implemented for mmbench's tiny CLIP, not '{name}'.",
                               hint="Load mmbench-tiny-clip, or use int8-dynamic, bfloat16 or onnx-int8 for this model.")
    return model


def magnitude_prune(model: Any, amount: float) -> Any:
    """A copy of ``model`` with the global ``amount`` fraction of smallest-|w| Linear weights masked
    (``torch.nn.utils.prune`` reparametrisation kept, so a fine-tune keeps the zeros at zero)."""
    import torch
    from torch.nn.utils import prune

    if not 0.0 < amount < 1.0:
        raise CompressionError(f"Magnitude pruning needs 0 < amount < 1, got {amount!r}.")
    pruned = copy.deepcopy(model)
    params = [(m, "weight") for m in pruned.modules() if isinstance(m, torch.nn.Linear)]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    return pruned


def structured_prune(model: Any, amount: float) -> Any:
    """A smaller tiny CLIP: every MLP keeps its ``1 - amount`` most important hidden units (every
    other tensor copied); ``amount`` in :data:`STRUCTURED_AMOUNTS` (the config holds an integer
    MLP ratio)."""
    from ..models.tiny_clip import TinyClip, TinyClipConfig
    from ..train.tiny_clip_student import init_from_teacher

    c = model.config
    ratio = c.mlp_ratio * (1.0 - amount)
    if amount not in STRUCTURED_AMOUNTS or abs(ratio - round(ratio)) > 1e-6 or round(ratio) < 1:
        raise CompressionError(f"Structured pruning removes 0.25, 0.5 or 0.75 of each MLP's units, not {amount!r}.",
                               hint=f"Pass amount= one of {', '.join(map(str, STRUCTURED_AMOUNTS))}.")
    config = TinyClipConfig.from_dict({**c.__dict__, "mlp_ratio": int(round(ratio))})
    small = TinyClip(config)
    init_from_teacher(small, model, range(c.vision_layers), range(c.text_layers))
    return small.eval()


def finetune(model: Any, teacher: Any, steps: int, *, batch_size: int = 32, lr: float = 2e-4, seed: int = 3,
             log: Callable[[str], None] | None = None) -> dict:
    """Fine-tune ``model`` in place for ``steps`` steps against the frozen ``teacher`` (see the module
    docstring); returns ``{"steps", "seconds", "loss_first", "loss_last"}``."""
    import torch

    from ..train.tiny_clip import SceneStream
    from ..train.tiny_clip_student import TrainConfig, distill_losses

    cfg = TrainConfig(batch_size=batch_size, seed=seed)
    out = {"steps": 0, "seconds": 0.0, "loss_first": None, "loss_last": None}
    if steps <= 0:
        return out
    teacher = teacher.eval()
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    stream = iter(SceneStream(batch_size, model.tokenizer, cfg.n_negatives, cfg.object_mix, seed))
    start = time.perf_counter()
    model.train()
    for step in range(1, steps + 1):
        for g in opt.param_groups:  # linear decay to 10%
            g["lr"] = lr * (1.0 - 0.9 * (step - 1) / max(1, steps - 1))
        loss = distill_losses(model, teacher, next(stream), cfg)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        value = round(float(loss.detach()), 4)
        out["loss_first"] = value if out["loss_first"] is None else out["loss_first"]
        out["loss_last"] = value
        if log is not None and (step == 1 or step % 25 == 0 or step == steps):
            log(f"fine-tune step {step}/{steps}: loss {value}")
    model.eval()
    out.update(steps=steps, seconds=round(time.perf_counter() - start, 1))
    return out


def sparsity(model: Any) -> float:
    """Share of zero weights over every ``nn.Linear`` weight of ``model``."""
    import torch

    weights = [m.weight for m in model.modules() if isinstance(m, torch.nn.Linear)]
    total = sum(w.numel() for w in weights)
    return float(sum(int((w == 0).sum()) for w in weights) / total) if total else 0.0


def prune_backend(backend: Any, method: str, *, amount: float = 0.5, finetune_steps: int = 100,
                  batch_size: int = 32, log: Callable[[str], None] | None = None) -> Any:
    """A :class:`~mmbench.compress.torch_methods.TorchCompressedBackend` over a pruned, fine-tuned
    copy of ``backend``'s tiny CLIP; ``.pruning`` holds what was done (amount, sparsity,
    fine-tune summary, parameters)."""
    import torch
    from torch.nn.utils import prune

    from .torch_methods import TorchCompressedBackend

    model = _tiny_clip(backend)
    if method not in PRUNE_METHODS:
        raise CompressionError(f"Unknown pruning method {method!r}.", hint=f"Use one of: {', '.join(PRUNE_METHODS)}.")
    teacher = copy.deepcopy(model).eval()
    for p in teacher.parameters():
        p.requires_grad_(False)
    pruned = magnitude_prune(model, amount) if method == "prune-magnitude" else structured_prune(model, amount)
    for p in pruned.parameters():
        p.requires_grad_(True)
    with torch.enable_grad():
        summary = finetune(pruned, teacher, finetune_steps, batch_size=batch_size, log=log)
    if method == "prune-magnitude":  # bake the masks into the weights (plain nn.Linear again)
        for m in pruned.modules():
            if isinstance(m, torch.nn.Linear) and prune.is_pruned(m):
                prune.remove(m, "weight")
    for p in pruned.parameters():
        p.requires_grad_(False)
    new = TorchCompressedBackend(pruned.eval(), backend, torch.float32,
                                 f"{method.replace('prune-', '')} pruning {amount:g}, {summary['steps']} fine-tune steps")
    new.pruning = {"amount": amount, "sparsity": round(sparsity(pruned), 4),
                   "params": sum(p.numel() for p in pruned.parameters()),
                   "nonzero_params": sum(int((p != 0).sum()) for p in pruned.parameters()), "finetune": summary}
    return new
