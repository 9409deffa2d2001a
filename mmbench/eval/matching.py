"""Evaluate an image-text matching pipeline on freshly generated held-out procedural sets.

Three sets, each from its own world seed (training uses small seeds; these default to 10_001+):

* zero-shot: single-object images classified among all shape x colour classes;
* retrieval: a gallery of multi-object images whose canonical captions are unique;
  text->image and image->text recall@k and mAP, with and without matching-head re-ranking;
* binding probe: two-object images; the true caption must outscore the same caption with the
  two colours swapped, and with the spatial relation flipped (CLIP's bag-of-words weakness).
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np

from ..data.world import World, shape_colour_classes
from ..metrics import mean_average_precision, recall_at_k

ZERO_SHOT_SEED, GALLERY_SEED, BINDING_SEED = 10_001, 10_002, 10_003


def zero_shot_set(n: int, seed: int = ZERO_SHOT_SEED) -> tuple[list[np.ndarray], list[str]]:
    world = World(seed=seed, n_objects=1)
    scenes = world.scenes(n)
    return [s.image for s in scenes], [s.objects[0].label for s in scenes]


def gallery_set(n: int, seed: int = GALLERY_SEED) -> tuple[list[np.ndarray], list[str]]:
    """``n`` multi-object (2-3 objects) scenes whose captions are unique, also up to equivalent
    phrasings ("A left of B" = "B right of A"), so each text query has exactly one right image."""
    world = World(seed=seed, n_objects=(2, 3))
    images, captions, seen = [], [], set()
    i = 0
    while len(images) < n:
        s = world.scene(i)
        i += 1
        if s.description_key in seen:  # unique up to equivalent phrasings
            continue
        seen.add(s.description_key)
        images.append(s.image)
        captions.append(s.caption)
    return images, captions


def binding_set(n: int, seed: int = BINDING_SEED) -> tuple[list[np.ndarray], list[str], list[str], list[str]]:
    """Two-object scenes with distinct colours: (images, true, colour-swapped, relation-flipped)."""
    world = World(seed=seed, n_objects=2)
    images, true, swap, flip = [], [], [], []
    i = 0
    while len(images) < n:
        s = world.scene(i)
        i += 1
        sw = s.colour_swapped_caption()
        if sw is None:
            continue
        images.append(s.image)
        true.append(s.caption)
        swap.append(sw)
        flip.append(s.relation_flipped_caption())
    return images, true, swap, flip


def evaluate_matching(pipe: Any, *, n_zero_shot: int = 1000, n_gallery: int = 1000, n_binding: int = 500,
                      seed: int | None = None, rerank_depth: int = 16,
                      log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run all three held-out evaluations on ``pipe`` and return a flat metrics dict.

    ``seed`` (optional) shifts all three world seeds, for measuring on other held-out sets.
    """
    shift = 0 if seed is None else int(seed) * 10
    t0 = time.time()
    say = log or (lambda _msg: None)
    out: dict[str, Any] = {"model": pipe.spec.name, "tier": pipe.spec.tier}

    # zero-shot classification
    images, labels = zero_shot_set(n_zero_shot, ZERO_SHOT_SEED + shift)
    classes = shape_colour_classes()
    results = pipe.zero_shot_classify_batch(images, classes)
    out["zero_shot_top1"] = float(np.mean([r.top == y for r, y in zip(results, labels)]))
    out["zero_shot_classes"] = len(classes)
    say(f"zero-shot top-1 {out['zero_shot_top1']:.3f} over {len(classes)} classes ({n_zero_shot} images)")

    # retrieval on a gallery with unique captions
    images, captions = gallery_set(n_gallery, GALLERY_SEED + shift)
    img = pipe.embed_images(images)
    txt = pipe.embed_texts(captions)
    sim_t2i = txt @ img.T
    out["gallery_size"] = len(images)
    out["t2i_recall_at_1_dual"] = recall_at_k(sim_t2i, 1)
    out["t2i_recall_at_5"] = recall_at_k(sim_t2i, 5)
    out["t2i_recall_at_10"] = recall_at_k(sim_t2i, 10)
    out["i2t_recall_at_1"] = recall_at_k(sim_t2i.T, 1)
    out["i2t_recall_at_5"] = recall_at_k(sim_t2i.T, 5)
    out["map"] = mean_average_precision(sim_t2i)
    if pipe.can_rerank:
        depth = min(rerank_depth, len(images))
        top = np.argsort(-sim_t2i, axis=1)[:, :depth]
        feats = pipe.matching_features(images)  # encode the gallery once for the matching head
        hits = 0
        for q in range(len(captions)):
            cand = top[q]
            if feats is not None:
                logits = pipe.match_logits(None, [captions[q]] * depth, features=feats[cand])
            else:
                logits = pipe.match_logits([images[c] for c in cand], [captions[q]] * depth)
            hits += int(cand[int(np.argmax(logits))] == q)
        out["t2i_recall_at_1_reranked"] = hits / len(captions)
        out["t2i_recall_at_1"] = out["t2i_recall_at_1_reranked"]
        out["rerank_depth"] = depth
    else:
        out["t2i_recall_at_1"] = out["t2i_recall_at_1_dual"]
    say(f"t2i R@1 {out['t2i_recall_at_1']:.3f} (dual {out['t2i_recall_at_1_dual']:.3f}), i2t R@1 {out['i2t_recall_at_1']:.3f}")

    # attribute-binding probe
    images, true, swap, flip = binding_set(n_binding, BINDING_SEED + shift)
    pil = [_pil(im) for im in images]
    emb = pipe.embed_images(pil)
    per_model: dict[str, dict[str, float]] = {}

    def cos(texts):
        return (emb * pipe.embed_texts(texts)).sum(1)

    s_true, s_swap, s_flip = cos(true), cos(swap), cos(flip)
    per_model["dual_encoder"] = {"binding_colour_swap": float(np.mean(s_true > s_swap)),
                                 "binding_relation_flip": float(np.mean(s_true > s_flip))}
    if pipe.can_rerank:
        m_true = pipe.match_logits(pil, true, validated=True)
        m_swap = pipe.match_logits(pil, swap, validated=True)
        m_flip = pipe.match_logits(pil, flip, validated=True)
        per_model["matching_head"] = {"binding_colour_swap": float(np.mean(m_true > m_swap)),
                                      "binding_relation_flip": float(np.mean(m_true > m_flip))}
    best = max(reversed(list(per_model)), key=lambda k: sum(per_model[k].values()))  # ties: the matching head
    out.update(per_model[best])
    out["binding_best_matcher"] = best
    out["binding"] = per_model
    out["binding_pairs"] = len(images)
    say(f"binding ({best}): colour swap {out['binding_colour_swap']:.3f}, relation flip {out['binding_relation_flip']:.3f}")
    out["seconds"] = round(time.time() - t0, 1)
    return out


def _pil(arr: np.ndarray):
    from PIL import Image

    return Image.fromarray(arr)
