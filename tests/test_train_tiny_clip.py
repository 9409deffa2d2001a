"""Training the tiny CLIP: hard negatives are false, and a few steps reduce the loss."""

from __future__ import annotations

import numpy as np

from mmbench.data import World
from mmbench.train.tiny_clip import TrainConfig, hard_negatives, train

SMALL = {"vision_width": 32, "vision_layers": 1, "vision_heads": 2, "text_width": 32, "text_layers": 1,
         "text_heads": 2, "embed_dim": 32, "itm_layers": 1}


def test_hard_negatives_are_never_true_captions():
    rng = np.random.default_rng(0)
    for scene in World(seed=3).scenes(200):
        negs = hard_negatives(scene, rng, k=4)
        assert negs, "every scene gets hard negatives"
        assert not set(negs) & set(scene.captions)


def test_a_few_training_steps_reduce_the_loss(tmp_path):
    cfg = TrainConfig(steps=40, batch_size=32, warmup=5, lr=2e-3, device="cpu", eval_every=0, model=SMALL)
    logs = []
    model, summary = train(cfg, tmp_path, log=logs.append)
    import json

    hist = json.loads((tmp_path / "training.json").read_text())["history"]
    assert hist[0]["step"] == 1 and hist[-1]["step"] <= 40
    first, last = hist[0]["contrastive"], hist[-1]["contrastive"]
    assert last < first - 0.3, (first, last)
    assert (tmp_path / "model.safetensors").is_file() and summary["steps"] == 40


def test_time_budget_shrinks_the_schedule_to_what_fits():
    from mmbench.train.loop import budgeted_total

    # no budget, or too few steps timed yet: the schedule is left as it is
    assert budgeted_total(50, 1000, 1000, None, 10.0, after=20) == 1000
    assert budgeted_total(20, 1000, 1000, 60.0, 10.0, after=20) == 1000
    # 49 steps took 10 s, so 294 fit in 60 s; never below the current step nor above the configured steps
    assert budgeted_total(50, 1000, 1000, 60.0, 10.0, after=20) == 294
    assert budgeted_total(50, 1000, 1000, 1.0, 10.0, after=20) == 50
    assert budgeted_total(50, 1000, 200, 600.0, 10.0, after=20) == 200
