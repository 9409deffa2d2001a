"""The fusion lab: per-modality features, fusion strategies with one interface (defined in
:mod:`mmbench.models.fusion_strategies`, re-exported here), and a fair side-by-side comparison
(:func:`mmbench.fusion.lab.compare`) on procedural sentiment data or real data."""

from ..models.fusion_strategies import STRATEGIES, UNIMODAL, FusionModel, GatedFusion, build_strategy

__all__ = ["STRATEGIES", "UNIMODAL", "FusionModel", "GatedFusion", "build_strategy"]
