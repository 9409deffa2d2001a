"""Data for mmbench: the procedural multimodal world (:mod:`mmbench.data.world`)."""

from .world import (
    COLOURS,
    OPPOSITE_RELATION,
    RELATIONS,
    SHAPES,
    SIZES,
    Scene,
    World,
    WorldObject,
    captions_for,
    phrase,
    shape_colour_classes,
    vocabulary,
)

__all__ = [
    "COLOURS", "OPPOSITE_RELATION", "RELATIONS", "SHAPES", "SIZES", "Scene", "World", "WorldObject",
    "captions_for", "phrase", "shape_colour_classes", "vocabulary",
]
