"""The fusion lab: handcrafted per-modality features, fusion strategies with one interface, and
a fair side-by-side comparison (:func:`mmbench.fusion.lab.compare`) on procedural sentiment data."""

from .strategies import STRATEGIES, UNIMODAL, FusionModel, GatedFusion, build_strategy

__all__ = ["STRATEGIES", "UNIMODAL", "FusionModel", "GatedFusion", "build_strategy"]
