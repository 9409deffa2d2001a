"""Questions and answers about procedural scenes, for visual question answering (VQA).

Every question is generated from a scene's exact ground truth, so its answer is known:

* ``count``    — "how many objects are there?" -> "one" / "two" / "three";
* ``colour``   — "what colour is the circle?" (asked only when one object has that shape) -> "red";
* ``shape``    — "what shape is the red object?" (only when one object has that colour) -> "circle";
* ``relation`` — "what shape is left of the blue square?" -> "circle", or "nothing" when no object
  is there (two-object scenes: all four relations; three-object scenes: left/right when the
  answer is a single object), and "what is above the red cross?" -> "a green ring" / "nothing";
* ``exists``   — "is there a red circle?" -> "yes" / "no" (the false ones mostly swap a colour
  between two objects of the scene, so answering needs attribute binding, not a bag of words).

``color`` is accepted as a spelling of ``colour``. A held-out question set is just another world seed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .world import COLOURS, RELATIONS, SHAPES, Scene, WorldObject, phrase, relation_between, vocabulary

QUESTION_KINDS: tuple[str, ...] = ("count", "colour", "shape", "relation", "exists")
NUMBER_WORDS: tuple[str, ...] = ("zero", "one", "two", "three")


@dataclass(frozen=True)
class QA:
    """One question about a scene with its ground-truth answer."""

    question: str
    answer: str
    kind: str


def question_vocabulary() -> list[str]:
    """Every word a generated question or answer can contain, plus the caption vocabulary (sorted)."""
    words = set(vocabulary())
    words |= {"what", "colour", "color", "shape", "is", "the", "object", "objects", "how", "many", "are", "there",
              "nothing", "yes", "no", "?"}
    words |= set(NUMBER_WORDS)
    return sorted(words)


def _colour_word(rng: np.random.Generator | None) -> str:
    return "color" if rng is not None and rng.random() < 0.3 else "colour"


def _others_at(scene: Scene, target: int, rel: str) -> list[WorldObject]:
    """Objects of the scene standing in relation ``rel`` to object ``target``."""
    t = scene.objects[target]
    out = []
    for k, o in enumerate(scene.objects):
        if k == target:
            continue
        if len(scene.objects) == 2:
            if relation_between(o, t) == rel:
                out.append(o)
        elif rel == "left of" and o.cx < t.cx or rel == "right of" and o.cx > t.cx:
            out.append(o)
    return out


def scene_questions(scene: Scene, rng: np.random.Generator | None = None) -> list[QA]:
    """Every question mmbench asks about ``scene``, with its answer.

    ``rng`` picks the spelling variants and the false "is there" probes; None gives a fixed set.
    """
    objs = scene.objects
    out = [QA("how many objects are there?", NUMBER_WORDS[len(objs)], "count")]
    shapes = [o.shape for o in objs]
    colours = [o.colour for o in objs]
    for o in objs:
        if shapes.count(o.shape) == 1:
            out.append(QA(f"what {_colour_word(rng)} is the {o.shape}?", o.colour, "colour"))
        if colours.count(o.colour) == 1:
            out.append(QA(f"what shape is the {o.colour} object?", o.shape, "shape"))
    relations = RELATIONS if len(objs) == 2 else (("left of", "right of") if len(objs) == 3 else ())
    for i, o in enumerate(objs):
        for rel in relations:
            there = _others_at(scene, i, rel)
            if len(there) > 1:
                continue  # not a single-object answer
            answer_shape = there[0].shape if there else "nothing"
            answer_phrase = there[0].phrase() if there else "nothing"
            out.append(QA(f"what shape is {rel} the {o.colour} {o.shape}?", answer_shape, "relation"))
            out.append(QA(f"what is {rel} the {o.colour} {o.shape}?", answer_phrase, "relation"))
    present = {(o.colour, o.shape) for o in objs}
    for o in objs:
        out.append(QA(f"is there {o.phrase()}?", "yes", "exists"))
    absent: list[tuple[str, str]] = []
    for a in objs:  # binding probes: a colour of one object on the shape of another
        for b in objs:
            if a is not b and (b.colour, a.shape) not in present:
                absent.append((b.colour, a.shape))
    if rng is not None:
        while len(absent) < len(objs):
            cand = (list(COLOURS)[rng.integers(len(COLOURS))], SHAPES[rng.integers(len(SHAPES))])
            if cand not in present and cand not in absent:
                absent.append(cand)
        pick = rng.choice(len(absent), size=min(len(objs), len(absent)), replace=False)
        absent = [absent[p] for p in pick]
    else:
        absent = sorted(set(absent))[: len(objs)]
    for colour, shape in absent:
        out.append(QA(f"is there {phrase(colour, shape)}?", "no", "exists"))
    return out


def balanced_questions(scenes: Sequence[Scene], seed: int = 0, per_kind: int | None = None) -> list[tuple[int, QA]]:
    """``(scene index, QA)`` pairs with every question kind equally represented (an evaluation set).

    ``per_kind`` questions of each kind (default: as many as the rarest kind has), drawn with ``seed``;
    "nothing" answers are capped at a third of the relation questions so that always answering
    "nothing" scores low.
    """
    rng = np.random.default_rng(seed)
    pools: dict[str, list[tuple[int, QA]]] = {k: [] for k in QUESTION_KINDS}
    for i, scene in enumerate(scenes):
        for qa in scene_questions(scene, rng):
            pools[qa.kind].append((i, qa))
    rel = pools["relation"]
    nothing = [p for p in rel if p[1].answer == "nothing"]
    something = [p for p in rel if p[1].answer != "nothing"]
    keep = min(len(nothing), len(something) // 2)
    pools["relation"] = something + [nothing[j] for j in rng.permutation(len(nothing))[:keep]]
    n = per_kind or min(len(v) for v in pools.values())
    out: list[tuple[int, QA]] = []
    for kind in QUESTION_KINDS:
        pool = pools[kind]
        take = rng.choice(len(pool), size=min(n, len(pool)), replace=False)
        out += [pool[t] for t in sorted(take)]
    return out
