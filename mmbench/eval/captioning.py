"""Captioning and VQA metrics, and ``mmbench eval captioning`` on fresh held-out procedural scenes.

* :func:`attribute_match` — every object of the scene is named with its right colour and shape,
  and nothing else is named (the issue's bar: ≥ 0.80 for the offline captioner);
* :func:`corpus_bleu` — BLEU-4 (Papineni et al. 2002): clipped n-gram precisions for n = 1..4
  pooled over the corpus, their geometric mean, times the brevity penalty
  ``exp(1 - r / c)`` when the hypotheses are shorter (``r``: the reference lengths closest to each
  hypothesis' length, ``c``: the hypotheses' length); no smoothing, every reference of a scene counts;
* :func:`relation_correct` — a two-object caption's spatial relation is true of the scene;
* the pointing game of the per-word cross-attention maps: the map of a colour or shape word peaks
  inside the object that the word describes;
* VQA exact-match accuracy over a set balanced across question kinds.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter
from typing import Any, Callable, Sequence

import numpy as np

from ..data.world import COLOURS, OPPOSITE_RELATION, SHAPES, Scene, relation_between

#: Held-out evaluation sets: captions on World(EVAL_SEED), questions on World(EVAL_SEED + 1).
EVAL_SEED = 10_001
_WORD_RE = re.compile(r"[a-z]+|[,:?]")
_RELATION_RE = re.compile(r"(left of|right of|above|below)")


def caption_words(text: str) -> list[str]:
    """Lower-cased words and punctuation, the unit BLEU counts."""
    return _WORD_RE.findall(str(text).lower())


def named_objects(caption: str) -> list[tuple[str, str]]:
    """``(colour, shape)`` of every "<colour> <shape>" phrase in ``caption``, in order (a size word
    in between is skipped; a shape without a colour counts as ``(None, shape)``)."""
    words = caption_words(caption)
    out: list[tuple[str, str]] = []
    for i, w in enumerate(words):
        if w in SHAPES:
            prev = [x for x in words[max(0, i - 2):i] if x in COLOURS]
            out.append((prev[-1] if prev else None, w))
    return out


def attribute_match(caption: str, scene: Scene) -> bool:
    """True when the caption names exactly the scene's objects, each with its colour and shape."""
    return Counter(named_objects(caption)) == Counter((o.colour, o.shape) for o in scene.objects)


def relation_correct(caption: str, scene: Scene) -> bool | None:
    """For a two-object scene whose caption reads "<a> <relation> <b>": is the relation true?
    None when the caption states no relation or does not name both objects."""
    if len(scene.objects) != 2:
        return None
    text = " ".join(caption_words(caption))
    m = _RELATION_RE.search(text)
    if not m:
        return None
    left, right = named_objects(text[: m.start()]), named_objects(text[m.end():])
    if len(left) != 1 or len(right) != 1:
        return None
    by_label = {(o.colour, o.shape): o for o in scene.objects}
    a, b = by_label.get(left[0]), by_label.get(right[0])
    if a is None or b is None or a is b:
        return False
    return relation_between(a, b) == m.group(1) or OPPOSITE_RELATION[relation_between(b, a)] == m.group(1)


def _ngrams(words: Sequence[str], n: int) -> Counter:
    return Counter(tuple(words[i:i + n]) for i in range(len(words) - n + 1))


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[Sequence[str]], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` of ``hypotheses`` (one string each) against lists of reference strings."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} reference lists")
    matched = [0] * max_n
    possible = [0] * max_n
    hyp_len = ref_len = 0
    for hyp, refs in zip(hypotheses, references):
        h = caption_words(hyp)
        rs = [caption_words(r) for r in refs]
        hyp_len += len(h)
        ref_len += min((abs(len(r) - len(h)), len(r)) for r in rs)[1]  # closest length, shorter on ties
        for n in range(1, max_n + 1):
            counts = _ngrams(h, n)
            best: Counter = Counter()
            for r in rs:
                best |= _ngrams(r, n)  # max count of each n-gram over the references
            matched[n - 1] += sum(min(c, best[g]) for g, c in counts.items())
            possible[n - 1] += max(0, len(h) - n + 1)
    if hyp_len == 0 or min(matched) == 0:
        return 0.0
    log_precision = sum(math.log(m / p) for m, p in zip(matched, possible)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)


# ----------------------------------------------------------------------------- evaluation
def word_pointing(result: Any, scene: Scene) -> list[bool]:
    """Pointing game of a caption's per-word maps: for every colour or shape word that belongs to
    an object the caption names correctly, does its map peak inside that object's mask?"""
    from ..explain.scoring import pointing_game

    if not result.word_maps:
        return []
    by_label = {(o.colour, o.shape): k for k, o in enumerate(scene.objects)}
    words = [w.text for w in result.words]
    hits = []
    for i, w in enumerate(words):
        if w not in SHAPES:
            continue
        colour_at = [j for j in range(max(0, i - 2), i) if words[j] in COLOURS]
        if not colour_at:
            continue
        k = by_label.get((words[colour_at[-1]], w))
        if k is None:
            continue
        for j in (colour_at[-1], i):
            hits.append(pointing_game(result.word_maps[j].heatmap, scene.masks[k]))
    return hits


def evaluate_captioning(cap_pipe: Any, vqa_pipe: Any | None = None, n: int = 500, n_questions: int = 1000,
                        n_attention: int = 200, seed: int = EVAL_SEED, decoding: dict | None = None,
                        log: Callable[[str], None] | None = None,
                        on_result: Callable[[dict], None] | None = None) -> dict:
    """Score a captioning pipeline (and a VQA pipeline) on fresh scenes of ``World(seed)``.

    Emits one dict per metric group through ``on_result`` (captioning, attention, vqa) and returns
    the summary with plain keys ``attribute_match``, ``bleu4``, ``vqa_accuracy``, ``model``.
    """
    from ..data.questions import balanced_questions
    from ..data.world import World

    log = log or (lambda _m: None)
    emit = on_result or (lambda _r: None)
    decoding = dict(decoding or {})
    scenes = World(seed=seed).scenes(n)
    images = [s.image for s in scenes]
    started = time.perf_counter()
    results = cap_pipe.caption_batch(images, attention=False, **decoding)
    seconds = time.perf_counter() - started
    caps = [r.caption for r in results]
    match = np.array([attribute_match(c, s) for c, s in zip(caps, scenes)])
    by_count = {str(k): round(float(match[[len(s.objects) == k for s in scenes]].mean()), 4)
                for k in (1, 2, 3) if any(len(s.objects) == k for s in scenes)}
    rel = [relation_correct(c, s) for c, s in zip(caps, scenes) if len(s.objects) == 2]
    rel_known = [r for r in rel if r is not None]
    bleu = corpus_bleu(caps, [s.captions for s in scenes])
    failures = [{"index": i, "caption": c, "truth": s.caption} for i, (c, s, ok) in
                enumerate(zip(caps, scenes, match)) if not ok][:5]
    group = {"group": "captioning", "model": cap_pipe.spec.name, "seed": seed, "n_images": n,
             "attribute_match": round(float(match.mean()), 4), "attribute_match_by_objects": by_count,
             "bleu4": round(bleu, 4), "relation_accuracy": round(float(np.mean(rel_known)), 4) if rel_known else None,
             "relation_stated": round(len(rel_known) / max(1, len(rel)), 4),
             "mean_token_probability": round(float(np.mean([r.mean_probability for r in results if r.tokens])), 4),
             "images_per_second": round(n / max(seconds, 1e-9), 2), "decoding": results[0].decoding if results else {},
             "failures": failures}
    log(f"captioning: attribute_match {group['attribute_match']:.3f}, BLEU-4 {group['bleu4']:.3f} "
        f"({n} images, {seconds:.1f} s)")
    emit(group)
    summary = {"attribute_match": group["attribute_match"], "bleu4": group["bleu4"],
               "relation_accuracy": group["relation_accuracy"]}

    if n_attention:
        hits: list[bool] = []
        for scene in scenes[:n_attention]:
            hits += word_pointing(cap_pipe(scene.image, attention=True, **decoding), scene)
        chance = float(np.mean([m.mean() for s in scenes[:n_attention] for m in s.masks]))
        att = {"group": "attention", "model": cap_pipe.spec.name, "n_images": min(n, n_attention),
               "n_words": len(hits), "pointing_game": round(float(np.mean(hits)), 4) if hits else None,
               "chance": round(chance, 4)}
        log(f"attention: pointing game {att['pointing_game']} over {len(hits)} colour/shape words "
            f"(chance {chance:.3f})")
        emit(att)
        summary["pointing_game"] = att["pointing_game"]

    if vqa_pipe is not None and n_questions:
        q_scenes = World(seed=seed + 1).scenes(max(200, n_questions // 3))
        pairs = balanced_questions(q_scenes, seed=seed, per_kind=max(1, n_questions // 5))
        started = time.perf_counter()
        answers = vqa_pipe.answer_batch([q_scenes[i].image for i, _ in pairs], [qa.question for _, qa in pairs])
        seconds = time.perf_counter() - started
        correct = np.array([a.answer == qa.answer for a, (_, qa) in zip(answers, pairs)])
        kinds = sorted({qa.kind for _, qa in pairs})
        by_kind = {k: round(float(correct[[qa.kind == k for _, qa in pairs]].mean()), 4) for k in kinds}
        wrong = [{"question": qa.question, "answer": a.answer, "truth": qa.answer}
                 for a, (_, qa), ok in zip(answers, pairs, correct) if not ok][:5]
        vqa = {"group": "vqa", "model": vqa_pipe.spec.name, "seed": seed + 1, "n_questions": len(pairs),
               "vqa_accuracy": round(float(correct.mean()), 4), "by_kind": by_kind,
               "questions_per_second": round(len(pairs) / max(seconds, 1e-9), 2), "failures": wrong}
        log(f"vqa: accuracy {vqa['vqa_accuracy']:.3f} over {len(pairs)} questions {by_kind}")
        emit(vqa)
        summary["vqa_accuracy"] = vqa["vqa_accuracy"]
        summary["vqa_model"] = vqa_pipe.spec.name
    else:
        summary["vqa_accuracy"] = None
    summary.update({"model": cap_pipe.spec.name, "n_images": n, "seed": seed})
    return summary
