"""The procedural multimodal world: seeded images of 1-3 coloured shapes with exact ground truth.

Every scene is a pure function of ``(seed, index)``, so a held-out set is just another seed and
any scene can be regenerated on its own. Each scene carries captions (a canonical one plus
templated variants), per-object boxes, masks and attributes, and — for two-object scenes — the
spatial relation, which makes it the shared test and training material for matching,
captioning, generation and explanation scoring.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Iterator, Sequence

import numpy as np

SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "diamond", "cross", "ring")
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "green": (35, 165, 60),
    "blue": (40, 80, 225),
    "yellow": (240, 215, 35),
    "purple": (145, 55, 190),
    "orange": (245, 135, 25),
}
SIZES: tuple[str, ...] = ("small", "large")
RELATIONS: tuple[str, ...] = ("left of", "right of", "above", "below")
OPPOSITE_RELATION = {"left of": "right of", "right of": "left of", "above": "below", "below": "above"}

# Object radius ranges in pixels for a 64-pixel image; scaled linearly with image size.
_RADIUS = {"small": (5.0, 7.0), "large": (9.0, 12.0)}


def _article(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def phrase(colour: str, shape: str, size: str | None = None) -> str:
    """Noun phrase for one object, e.g. ``phrase("orange", "ring") == "an orange ring"``."""
    words = [w for w in (size, colour, shape) if w]
    return f"{_article(words[0])} {' '.join(words)}"


@dataclass(frozen=True)
class WorldObject:
    """One shape in a scene. Coordinates are pixels; ``box`` is ``(x0, y0, x1, y1)`` inclusive-exclusive."""

    shape: str
    colour: str
    size: str
    cx: float
    cy: float
    radius: float
    box: tuple[int, int, int, int]

    @property
    def label(self) -> str:
        """The shape x colour class name, e.g. ``"red circle"``."""
        return f"{self.colour} {self.shape}"

    def phrase(self, with_size: bool = False) -> str:
        return phrase(self.colour, self.shape, self.size if with_size else None)


@dataclass
class Scene:
    """A rendered scene with its ground truth.

    ``relation`` is ``(i, rel, j)`` meaning "object i is <rel> object j" (two-object scenes only);
    ``caption`` is the canonical caption (the first of ``captions``).
    """

    image: np.ndarray  # (H, W, 3) uint8
    objects: list[WorldObject]
    masks: np.ndarray  # (K, H, W) bool, visible pixels of each object
    captions: list[str]
    relation: tuple[int, str, int] | None = None
    seed: int = 0
    index: int = 0
    meta: dict = field(default_factory=dict)

    @property
    def caption(self) -> str:
        return self.captions[0]

    @property
    def boxes(self) -> np.ndarray:
        return np.array([o.box for o in self.objects], dtype=np.int64).reshape(-1, 4)

    @property
    def labels(self) -> list[str]:
        return [o.label for o in self.objects]

    def to_pil(self):
        from PIL import Image

        return Image.fromarray(self.image)

    @property
    def description_key(self) -> str:
        """Key shared by scenes that the caption grammar cannot tell apart (sizes and exact
        positions aside): "a red circle left of a blue square" and "a blue square right of a red
        circle" get the same key. Use it to build galleries whose captions are truly unique."""
        if self.relation is None:
            return " | ".join(o.label for o in sorted(self.objects, key=lambda o: o.cx))
        i, rel, j = self.relation
        if rel in ("right of", "below"):
            i, rel, j = j, OPPOSITE_RELATION[rel], i
        return f"{self.objects[i].label} {rel} {self.objects[j].label}"

    def colour_swapped_caption(self) -> str | None:
        """The canonical caption with the two objects' colours exchanged (None if not applicable)."""
        if self.relation is None:
            return None
        i, rel, j = self.relation
        a, b = self.objects[i], self.objects[j]
        if a.colour == b.colour:
            return None
        return f"{phrase(b.colour, a.shape)} {rel} {phrase(a.colour, b.shape)}"

    def relation_flipped_caption(self) -> str | None:
        """The canonical caption with the spatial relation reversed (None if not applicable)."""
        if self.relation is None:
            return None
        i, rel, j = self.relation
        a, b = self.objects[i], self.objects[j]
        return f"{a.phrase()} {OPPOSITE_RELATION[rel]} {b.phrase()}"


def relation_between(a: WorldObject, b: WorldObject) -> str:
    """Spatial relation of ``a`` to ``b`` along the axis where they are farther apart."""
    dx, dy = a.cx - b.cx, a.cy - b.cy
    if abs(dx) >= abs(dy):
        return "left of" if dx < 0 else "right of"
    return "above" if dy < 0 else "below"


def captions_for(objects: Sequence[WorldObject], relation: tuple[int, str, int] | None) -> list[str]:
    """All caption variants for a scene; the first is canonical.

    Single object: "a red circle", "a small red circle", "a photo of a red circle", ...
    Two objects: "a red circle left of a blue square", "a blue square right of a red circle", ...
    Three objects: "from left to right: a red circle, a blue square and a green ring", ...
    """
    if len(objects) == 1:
        o = objects[0]
        return [
            o.phrase(),
            o.phrase(with_size=True),
            f"a photo of {o.phrase()}",
            f"there is {o.phrase()}",
        ]
    if len(objects) == 2:
        assert relation is not None
        i, rel, j = relation
        a, b = objects[i], objects[j]
        return [
            f"{a.phrase()} {rel} {b.phrase()}",
            f"{b.phrase()} {OPPOSITE_RELATION[rel]} {a.phrase()}",
            f"{a.phrase(True)} {rel} {b.phrase(True)}",
            f"a photo of {a.phrase()} {rel} {b.phrase()}",
            f"{a.phrase()} and {b.phrase()}",
        ]
    ordered = sorted(objects, key=lambda o: o.cx)
    listing = ", ".join(o.phrase() for o in ordered[:-1]) + f" and {ordered[-1].phrase()}"
    listing_sized = ", ".join(o.phrase(True) for o in ordered[:-1]) + f" and {ordered[-1].phrase(True)}"
    return [
        f"from left to right: {listing}",
        f"from left to right: {listing_sized}",
        f"{listing}",
    ]


def vocabulary() -> list[str]:
    """Every word the caption grammar can produce (sorted), used by the tiny text encoders."""
    words = set(SHAPES) | set(COLOURS) | set(SIZES)
    words |= {"a", "an", "photo", "of", "there", "is", "and", "from", "to", "left", "right", "above", "below", ",", ":"}
    return sorted(words)


@lru_cache(maxsize=8)
def pixel_grids(size: int) -> tuple[np.ndarray, np.ndarray]:
    """``(xs, ys)``: float32 ``(size, size)`` coordinates of each pixel's centre (0.5, 1.5, ...)."""
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    return xs + 0.5, ys + 0.5


@lru_cache(maxsize=8)
def upsampler(size: int, coarse: int) -> np.ndarray:
    """(size, coarse) bilinear interpolation matrix used for smooth background textures."""
    pos = np.linspace(0, coarse - 1, size, dtype=np.float32)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, coarse - 1)
    w = pos - lo
    m = np.zeros((size, coarse), np.float32)
    m[np.arange(size), lo] += 1 - w
    m[np.arange(size), hi] += w
    return m


def shape_mask(shape: str, dx: np.ndarray, dy: np.ndarray, r: float) -> np.ndarray:
    """Boolean mask of ``shape`` with radius ``r`` given pixel offsets from its centre."""
    if shape == "circle":
        return dx * dx + dy * dy <= r * r
    if shape == "square":
        return np.maximum(np.abs(dx), np.abs(dy)) <= 0.85 * r
    if shape == "triangle":  # apex up, base at +0.8r
        top, base = -r, 0.8 * r
        inside_y = (dy >= top) & (dy <= base)
        half_width = (dy - top) / (base - top) * r
        return inside_y & (np.abs(dx) <= half_width)
    if shape == "diamond":
        return np.abs(dx) + np.abs(dy) <= 1.1 * r
    if shape == "cross":
        arm = 0.36 * r
        return ((np.abs(dx) <= arm) & (np.abs(dy) <= r)) | ((np.abs(dy) <= arm) & (np.abs(dx) <= r))
    if shape == "ring":
        d2 = dx * dx + dy * dy
        return (d2 <= r * r) & (d2 >= (0.55 * r) ** 2)
    raise ValueError(f"unknown shape {shape!r}; known shapes: {', '.join(SHAPES)}")


class World:
    """Seeded generator of procedural scenes.

    >>> world = World(seed=1)
    >>> scene = world.scene(0)
    >>> scene.image.shape, scene.caption  # doctest: +SKIP
    ((64, 64, 3), 'a red circle left of a blue square')

    Args:
        seed: scenes of different seeds are independent (use a fresh seed for held-out sets).
        image_size: side of the square image in pixels (>= 32).
        n_objects: fixed count or ``(min, max)`` range of objects per scene (1-3).
        shapes, colours: subsets of :data:`SHAPES` / :data:`COLOURS` to draw from.
        distinct: if True, objects in one scene never share both colour and shape.
        noise: standard deviation of per-pixel noise (0 for clean images).
    """

    def __init__(
        self,
        seed: int = 0,
        image_size: int = 64,
        n_objects: int | tuple[int, int] = (1, 3),
        shapes: Sequence[str] = SHAPES,
        colours: Sequence[str] = tuple(COLOURS),
        distinct: bool = True,
        noise: float = 7.0,
    ) -> None:
        if image_size < 32:
            raise ValueError("image_size must be at least 32 pixels")
        lo, hi = (n_objects, n_objects) if isinstance(n_objects, int) else n_objects
        if not 1 <= lo <= hi <= 3:
            raise ValueError("n_objects must be between 1 and 3")
        unknown = [s for s in shapes if s not in SHAPES] + [c for c in colours if c not in COLOURS]
        if unknown:
            raise ValueError(f"unknown shapes/colours: {unknown}")
        self.seed = int(seed)
        self.image_size = int(image_size)
        self.n_objects = (lo, hi)
        self.shapes = tuple(shapes)
        self.colours = tuple(colours)
        self.distinct = distinct
        self.noise = float(noise)

    # -- public API -------------------------------------------------------------------------
    def scene(self, index: int, n_objects: int | None = None) -> Scene:
        """Scene number ``index`` of this world (deterministic)."""
        rng = np.random.default_rng([self.seed, int(index)])
        k = n_objects if n_objects is not None else int(rng.integers(self.n_objects[0], self.n_objects[1] + 1))
        for _ in range(50):
            objects = self._place(rng, k)
            if objects is not None:
                break
        else:  # pragma: no cover - placement always succeeds well before 50 tries at these sizes
            raise RuntimeError("could not place objects")
        relation = None
        if k == 2:
            i, j = (0, 1) if rng.random() < 0.5 else (1, 0)
            relation = (i, relation_between(objects[i], objects[j]), j)
        image, masks = self._render(rng, objects)
        return Scene(image, objects, masks, captions_for(objects, relation), relation, self.seed, int(index))

    def scenes(self, n: int, start: int = 0, n_objects: int | None = None) -> list[Scene]:
        """``n`` consecutive scenes starting at ``start``."""
        return [self.scene(i, n_objects) for i in range(start, start + n)]

    def __iter__(self) -> Iterator[Scene]:
        i = 0
        while True:
            yield self.scene(i)
            i += 1

    def classes(self) -> list[str]:
        """Shape x colour class names ("red circle", ...) in a fixed order."""
        return [f"{c} {s}" for c in self.colours for s in self.shapes]

    # -- internals --------------------------------------------------------------------------
    def _place(self, rng: np.random.Generator, k: int) -> list[WorldObject] | None:
        scale = self.image_size / 64.0
        objects: list[WorldObject] = []
        used: set[tuple[str, str]] = set()
        for _ in range(k):
            for _attempt in range(30):
                shape = self.shapes[rng.integers(len(self.shapes))]
                colour = self.colours[rng.integers(len(self.colours))]
                if self.distinct and (shape, colour) in used and len(self.shapes) * len(self.colours) > k:
                    continue
                size = SIZES[rng.integers(2)]
                lo, hi = _RADIUS[size]
                r = float(rng.uniform(lo, hi)) * scale
                margin = r + 2 * scale
                cx = float(rng.uniform(margin, self.image_size - margin))
                cy = float(rng.uniform(margin, self.image_size - margin))
                cand = WorldObject(shape, colour, size, cx, cy, r, _box(cx, cy, r, self.image_size))
                if all(_separated(cand, o, 2 * scale, strict=k == 3) for o in objects):
                    objects.append(cand)
                    used.add((shape, colour))
                    break
            else:
                return None
        return objects

    def _render(self, rng: np.random.Generator, objects: list[WorldObject]) -> tuple[np.ndarray, np.ndarray]:
        n = self.image_size
        xs, ys = pixel_grids(n)
        # Muted, low-saturation, smoothly varying background so colour stays the objects' signal.
        coarse = 5
        up = upsampler(n, coarse)
        base = rng.uniform(70, 185)
        field_ = up @ rng.normal(0, 28, (coarse, coarse)).astype(np.float32) @ up.T
        tint = rng.normal(0, 8, 3).astype(np.float32)
        img = base + field_[..., None] + tint
        if rng.random() < 0.35:  # stripes for texture
            freq = rng.uniform(0.15, 0.5)
            angle = rng.uniform(0, np.pi)
            img = img + 12 * np.sin(freq * (xs * np.cos(angle) + ys * np.sin(angle)))[..., None]
        masks = np.zeros((len(objects), n, n), dtype=bool)
        for idx, o in enumerate(objects):
            x0, y0, x1, y1 = o.box
            dx, dy = xs[y0:y1, x0:x1] - o.cx, ys[y0:y1, x0:x1] - o.cy
            m = shape_mask(o.shape, dx, dy, o.radius)
            colour = np.array(COLOURS[o.colour], np.float32) + rng.normal(0, 10, 3).astype(np.float32)
            region = img[y0:y1, x0:x1]
            region[m] = colour
            masks[idx, y0:y1, x0:x1] = m
        if self.noise > 0:
            img = img + rng.normal(0, self.noise, img.shape).astype(np.float32)
        return np.clip(img, 0, 255).astype(np.uint8), masks


def _box(cx: float, cy: float, r: float, n: int) -> tuple[int, int, int, int]:
    return (
        max(0, int(np.floor(cx - r))),
        max(0, int(np.floor(cy - r))),
        min(n, int(np.ceil(cx + r)) + 1),
        min(n, int(np.ceil(cy + r)) + 1),
    )


def _separated(a: WorldObject, b: WorldObject, gap: float, strict: bool) -> bool:
    """Objects must not touch and must be clearly apart along their relation's axis.

    ``strict`` (three-object scenes) requires clear separation along x, so "from left to right"
    has one reading.
    """
    dx, dy = abs(a.cx - b.cx), abs(a.cy - b.cy)
    need = a.radius + b.radius + gap
    if strict:
        return dx >= need
    return max(dx, dy) >= need and abs(dx - dy) >= 0.25 * need


def shape_colour_classes(shapes: Sequence[str] = SHAPES, colours: Sequence[str] = tuple(COLOURS)) -> list[str]:
    """All "colour shape" class names, the label set for zero-shot classification."""
    return [f"{c} {s}" for c in colours for s in shapes]
