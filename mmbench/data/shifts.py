"""Controlled distribution shifts of the procedural worlds, the test material of drift detection (7.5.3).

Each shift changes one thing about the data and nothing else, so a detector's power against it and
its false alarms without it are measured, not guessed. Every generator is a pure function of
``(shift, n, seed)``; the ``"none"`` shift of each modality is the unshifted world itself.

Images (single-object scenes of :class:`~mmbench.data.world.World` by default, so every image has one
shape x colour class):

* ``none``: the world as it is.
* ``noise``: per-pixel camera noise sigma :data:`NOISE_SIGMA` instead of the world's 7.
* ``background``: a new background texture: a checkerboard of :data:`CHECKER_CELL`-pixel cells
  (+-:data:`CHECKER_CONTRAST` grey levels) replaces the smooth field and stripes; objects, base
  brightness, tint and noise are drawn as before.
* ``palette``: every object colour's hue turned by :data:`HUE_SHIFT_DEGREES` degrees (a new
  paint/camera palette), with the world's per-object colour jitter and pixel noise.
* ``shape``: shapes the world never draws (:data:`UNSEEN_SHAPES`: star, crescent, heart) in place of
  its six, with the same colours, sizes and positions. The world cannot render new shapes, so these
  scenes are drawn by :func:`render_scene`, a copy of the world's renderer that takes extra shapes.
* ``label``: class proportions shift, not the look of any class: :data:`LABEL_SHIFT_MIX` of the
  scenes are forced to hold a :data:`LABEL_SHIFT_SHAPE` (so that shape's share goes from 1/6 to
  ~0.58); each scene is otherwise drawn exactly as the world draws it.

Texts (captions of default 1-3-object scenes, a random caption variant each):

* ``none``: the world's captions.
* ``vocabulary``: each caption has one colour or shape word replaced by an unseen synonym
  (:data:`COLOUR_SYNONYMS`, :data:`SHAPE_SYNONYMS`: "crimson", "disc", ...).

Audio (clips of :class:`~mmbench.data.sound_world.SoundWorld`):

* ``none``: the world's clips (noise floor 0.001).
* ``noise_floor``: a noise floor of :data:`NOISE_FLOOR` (20 dB louder), same events.
"""

from __future__ import annotations

import colorsys
from dataclasses import replace
from typing import Sequence

import numpy as np

from .sound_world import SoundWorld, render_prompt
from .world import COLOURS, SHAPES, Scene, World, WorldObject, captions_for, pixel_grids, shape_mask, upsampler

__all__ = ["AUDIO_SHIFTS", "CHECKER_CELL", "CHECKER_CONTRAST", "COLOUR_SYNONYMS", "HUE_SHIFT_DEGREES", "IMAGE_SHIFTS",
           "LABEL_SHIFT_MIX", "LABEL_SHIFT_SHAPE", "NOISE_FLOOR", "NOISE_SIGMA", "SHAPE_SYNONYMS", "SHIFTS",
           "TEXT_SHIFTS", "UNSEEN_SHAPES", "render_scene", "shifted_captions", "shifted_clips", "shifted_scenes",
           "unseen_shape_mask"]

NOISE_SIGMA = 20.0
CHECKER_CELL = 8
CHECKER_CONTRAST = 30.0
HUE_SHIFT_DEGREES = 15.0
UNSEEN_SHAPES: tuple[str, ...] = ("star", "crescent", "heart")
LABEL_SHIFT_SHAPE = "circle"
LABEL_SHIFT_MIX = 0.5
COLOUR_SYNONYMS: dict[str, str] = {"red": "crimson", "green": "emerald", "blue": "azure", "yellow": "golden",
                                   "purple": "violet", "orange": "amber"}
SHAPE_SYNONYMS: dict[str, str] = {"circle": "disc", "square": "box", "triangle": "pyramid", "diamond": "rhombus",
                                  "cross": "plus", "ring": "hoop"}
NOISE_FLOOR = 0.01
#: The world's own pixel noise and audio noise floor (the defaults of World and render_prompt).
WORLD_NOISE, WORLD_NOISE_FLOOR = 7.0, 0.001

IMAGE_SHIFTS: tuple[str, ...] = ("none", "noise", "background", "palette", "shape", "label")
TEXT_SHIFTS: tuple[str, ...] = ("none", "vocabulary")
AUDIO_SHIFTS: tuple[str, ...] = ("none", "noise_floor")

#: shift -> (modality, one line saying what changes)
SHIFTS: dict[tuple[str, str], str] = {
    ("image", "none"): "no shift: the procedural world's single-object scenes",
    ("image", "noise"): f"pixel noise sigma {NOISE_SIGMA:g} instead of {WORLD_NOISE:g}",
    ("image", "background"): f"checkerboard background ({CHECKER_CELL}-px cells, +-{CHECKER_CONTRAST:g} grey levels) "
                              "instead of the smooth field and stripes",
    ("image", "palette"): f"object colours' hue turned by {HUE_SHIFT_DEGREES:g} degrees",
    ("image", "shape"): f"unseen shapes ({', '.join(UNSEEN_SHAPES)}) in place of the world's six",
    ("image", "label"): f"class proportions: {LABEL_SHIFT_MIX:.0%} of scenes forced to a {LABEL_SHIFT_SHAPE} "
                         f"(its share 1/6 -> {LABEL_SHIFT_MIX + (1 - LABEL_SHIFT_MIX) / len(SHAPES):.2f})",
    ("text", "none"): "no shift: the world's captions (1-3 objects, random caption variant)",
    ("text", "vocabulary"): "one colour or shape word per caption replaced by an unseen synonym",
    ("audio", "none"): f"no shift: sound-world clips, noise floor {WORLD_NOISE_FLOOR:g}",
    ("audio", "noise_floor"): f"noise floor {NOISE_FLOOR:g} (+{20 * np.log10(NOISE_FLOOR / WORLD_NOISE_FLOOR):.0f} dB)",
}


def _check(shift: str, known: Sequence[str], modality: str) -> None:
    if shift not in known:
        raise ValueError(f"unknown {modality} shift {shift!r}; known: {', '.join(known)}")


# ------------------------------------------------------------------ images
def unseen_shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of an :data:`UNSEEN_SHAPES` shape (or any world shape) of radius ``r``."""
    if shape == "star":  # five points, inner radius 0.45 r, apex up
        angle = np.arctan2(dy, dx) + np.pi / 2
        frac = np.abs(((angle / (2 * np.pi / 5)) % 1.0) - 0.5) * 2  # 1 at a point, 0 between points
        return np.hypot(dx, dy) <= r * (0.45 + 0.55 * frac ** 2)
    if shape == "crescent":  # a disc minus a disc shifted right
        return (dx * dx + dy * dy <= r * r) & ((dx - 0.45 * r) ** 2 + dy * dy > (0.8 * r) ** 2)
    if shape == "heart":
        x, y = dx / r, -dy / r * 1.1 + 0.15
        return (x * x + y * y - 0.8) ** 3 - x * x * y ** 3 <= 0
    return shape_mask(shape, dx, dy, r)


def _background(rng: np.random.Generator, n: int, texture: str) -> np.ndarray:
    """``(n, n, 3)`` float background drawn like the world's (``texture="world"``) or as a checkerboard."""
    xs, ys = pixel_grids(n)
    base = rng.uniform(70, 185)
    if texture == "checker":
        checker = ((xs // CHECKER_CELL + ys // CHECKER_CELL) % 2) * 2 - 1
        return base + CHECKER_CONTRAST * checker[..., None] + rng.normal(0, 8, 3).astype(np.float32)
    up = upsampler(n, 5)
    img = base + (up @ rng.normal(0, 28, (5, 5)).astype(np.float32) @ up.T)[..., None] + rng.normal(0, 8, 3)
    if rng.random() < 0.35:  # stripes, as the world draws them
        freq, angle = rng.uniform(0.15, 0.5), rng.uniform(0, np.pi)
        img = img + 12 * np.sin(freq * (xs * np.cos(angle) + ys * np.sin(angle)))[..., None]
    return img.astype(np.float32)


def render_scene(objects: Sequence[WorldObject], rng: np.random.Generator, image_size: int = 64, *,
                 noise: float = WORLD_NOISE, texture: str = "world") -> tuple[np.ndarray, np.ndarray]:
    """``(image, masks)`` of ``objects`` drawn the way :class:`World` draws scenes (background, per-object
    colour jitter N(0, 10), pixel noise), with :data:`UNSEEN_SHAPES` allowed and ``texture`` either the
    world's (``"world"``) or ``"checker"``."""
    n = image_size
    xs, ys = pixel_grids(n)
    img = _background(rng, n, texture)
    masks = np.zeros((len(objects), n, n), dtype=bool)
    for i, o in enumerate(objects):
        x0, y0, x1, y1 = o.box
        m = unseen_shape_mask(o.shape, xs[y0:y1, x0:x1] - o.cx, ys[y0:y1, x0:x1] - o.cy, o.radius)
        img[y0:y1, x0:x1][m] = np.array(COLOURS[o.colour], np.float32) + rng.normal(0, 10, 3).astype(np.float32)
        masks[i, y0:y1, x0:x1] = m
    if noise > 0:
        img = img + rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), masks


def _hue_turned(colour: str) -> np.ndarray:
    r, g, b = (c / 255.0 for c in COLOURS[colour])
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    return np.array(colorsys.hsv_to_rgb((h + HUE_SHIFT_DEGREES / 360.0) % 1.0, s, v), np.float32) * 255.0


def _repaint(scene: Scene, rng: np.random.Generator, shift: str, noise: float) -> np.ndarray:
    """The scene's image with its background (``shift="background"``) or its object colours
    (``"palette"``) redrawn, pixel noise included; the other pixels are kept as the world drew them."""
    img = scene.image.astype(np.float32)
    objects_px = scene.masks.any(0)
    if shift == "background":
        bg = _background(rng, scene.image.shape[0], "checker")
        bg = bg + rng.normal(0, noise, bg.shape).astype(np.float32)
        img[~objects_px] = bg[~objects_px]
    else:
        for o, m in zip(scene.objects, scene.masks):
            px = _hue_turned(o.colour) + rng.normal(0, 10, 3).astype(np.float32)
            img[m] = px + rng.normal(0, noise, (int(m.sum()), 3)).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def shifted_scenes(shift: str, n: int, seed: int, *, n_objects: int | tuple[int, int] = 1,
                   image_size: int = 64) -> list[Scene]:
    """``n`` scenes of image shift ``shift`` (:data:`IMAGE_SHIFTS`), a pure function of the arguments."""
    _check(shift, IMAGE_SHIFTS, "image")
    if shift == "noise":
        return World(seed=seed, image_size=image_size, n_objects=n_objects, noise=NOISE_SIGMA).scenes(n)
    world = World(seed=seed, image_size=image_size, n_objects=n_objects)
    if shift == "none":
        return world.scenes(n)
    if shift == "label":
        forced = World(seed=seed + 7919, image_size=image_size, n_objects=n_objects, shapes=(LABEL_SHIFT_SHAPE,))
        pick = np.random.default_rng([seed, 17]).random(n) < LABEL_SHIFT_MIX
        return [forced.scene(i) if pick[i] else world.scene(i) for i in range(n)]
    out = []
    for i in range(n):
        scene = world.scene(i)
        rng = np.random.default_rng([seed, i, 29])
        if shift == "shape":
            objects = [replace(o, shape=UNSEEN_SHAPES[rng.integers(len(UNSEEN_SHAPES))]) for o in scene.objects]
            image, masks = render_scene(objects, rng, image_size, noise=world.noise)
            out.append(replace(scene, image=image, objects=objects, masks=masks,
                               captions=captions_for(objects, scene.relation)))
        else:
            out.append(replace(scene, image=_repaint(scene, rng, shift, world.noise)))
    return out


# ------------------------------------------------------------------ texts
def shifted_captions(shift: str, n: int, seed: int) -> list[str]:
    """``n`` captions of text shift ``shift`` (:data:`TEXT_SHIFTS`): one random caption variant of each
    default (1-3-object) scene, with one colour or shape word swapped for an unseen synonym under
    ``"vocabulary"``."""
    _check(shift, TEXT_SHIFTS, "text")
    world = World(seed=seed)
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i, 31])
        scene = world.scene(i)
        caption = scene.captions[rng.integers(len(scene.captions))]
        if shift == "vocabulary":
            words = caption.split(" ")
            slots = [j for j, w in enumerate(words) if w.strip(",:") in {**COLOUR_SYNONYMS, **SHAPE_SYNONYMS}]
            j = slots[rng.integers(len(slots))]
            bare = words[j].strip(",:")
            words[j] = words[j].replace(bare, COLOUR_SYNONYMS.get(bare) or SHAPE_SYNONYMS[bare])
            if j and words[j - 1] in ("a", "an"):
                words[j - 1] = "an" if words[j][0] in "aeiou" else "a"
            caption = " ".join(words)
        out.append(caption)
    return out


# ------------------------------------------------------------------ audio
def shifted_clips(shift: str, n: int, seed: int) -> list[np.ndarray]:
    """Samples (float32, 16 kHz) of ``n`` sound-world clips of audio shift ``shift`` (:data:`AUDIO_SHIFTS`).

    Clip ``i`` is ``SoundWorld(seed).clip(i)`` (same prompt, same random timing and pitches) rendered with
    the shift's noise floor.
    """
    _check(shift, AUDIO_SHIFTS, "audio")
    world = SoundWorld(seed=seed)
    floor = NOISE_FLOOR if shift == "noise_floor" else WORLD_NOISE_FLOOR
    # SoundWorld.clip(i) renders prompt(i) with the generator seeded [seed, i, 1]
    return [render_prompt(world.prompt(i), np.random.default_rng([seed, i, 1]), noise=floor).samples for i in range(n)]
