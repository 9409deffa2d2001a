"""``mmbench.explain``: one API for model explanations, whatever the method and the model.

>>> pipe = mmbench.pipeline("image-classification", model="efficientnet-lite0")    # doctest: +SKIP
>>> exp = explain(pipe, skimage.data.chelsea(), "Egyptian cat", method="gradcam")  # doctest: +SKIP
>>> exp.heatmap.shape, exp.overlay().dtype                                           # doctest: +SKIP
((300, 451), dtype('uint8'))

Methods are a registry (:data:`METHODS`, :func:`register_method`); models plug in through their
backend's ``explain_adapter()`` (:class:`ExplainAdapter`, defined with its builders in
:mod:`mmbench.backends.adapters` and re-exported here); :mod:`.scoring` scores maps against
ground truth (pointing game, deletion/insertion AUC) and :mod:`.scratch` is Grad-CAM in 20 lines.
:mod:`.attention` adds ViT attention methods (``"rollout"``, ``"chefer"``, ``"attention"``) and the
per-head viewer :func:`attention_maps`; :mod:`.cross_attention` turns cross-attention recorded per
token into maps, for captioners and text-to-image models (:class:`CrossAttentionRecorder`). The
model-level recording (:class:`AttentionTap`) lives in :mod:`mmbench.models.attention`.
:mod:`.text` gives word attributions for text classifiers (:func:`explain_words`: occlusion or
captum integrated gradients) and :mod:`.audio` time-frequency occlusion maps on spectrogram models
(:func:`explain_spectrogram`).
:mod:`.temporal` explains video classifiers along time (temporal occlusion, :func:`explain_video`,
also reached by :func:`explain` with a video pipeline).
:mod:`.captioning` gives a captioner's per-word cross-attention maps (:func:`explain_caption`; also
:func:`explain` with an image-to-text pipeline and a caption word as the target).
"""

from ..backends.adapters import ClassTarget, ExplainAdapter, TextTarget, TokenGrid, get_adapter
from ..models.attention import AttentionTap  # model-level attention recording
from .api import (available_layers, available_methods, compare, default_layer, explain, explain_batch, method_info,
                  target_scorer)
from .explanation import Explanation
from .methods import METHOD_MODULES, METHODS, ExplainRequest, Method, MethodResult, register_method
from .audio import SpectrogramAttribution, SpectrogramModel, explain_spectrogram  # time-frequency occlusion
from .text import TEXT_METHODS, TextModel, WordAttribution, explain_words  # word attributions (occlusion, IG)
from .temporal import TEMPORAL_METHODS, TemporalExplanation, explain_video  # which frames of a video mattered

__all__ = [
    "ClassTarget", "ExplainAdapter", "ExplainRequest", "Explanation", "METHODS", "METHOD_MODULES", "Method",
    "MethodResult", "TextTarget", "TokenGrid", "available_layers", "available_methods", "compare", "default_layer",
    "explain", "explain_batch", "get_adapter", "method_info", "register_method", "target_scorer",
    "AttentionTap", "CrossAttentionRecorder", "attention_maps",
    "SpectrogramAttribution", "SpectrogramModel", "TEXT_METHODS", "TextModel", "WordAttribution",
    "explain_spectrogram", "explain_words",
    "TEMPORAL_METHODS", "TemporalExplanation", "explain_video",
    "explain_caption", "RecordedCrossAttention",
]

#: names served lazily (their modules register methods, which load_methods() does in its own order)
_LAZY = {"attention_maps": ".attention", "CrossAttentionRecorder": ".cross_attention",
         "explain_caption": ".captioning", "RecordedCrossAttention": ".captioning"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        from .methods import load_methods

        load_methods()
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
