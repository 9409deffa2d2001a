"""``mmbench.explain``: one API for model explanations, whatever the method and the model.

>>> pipe = mmbench.pipeline("image-classification", model="efficientnet-lite0")    # doctest: +SKIP
>>> exp = explain(pipe, skimage.data.chelsea(), "Egyptian cat", method="gradcam")  # doctest: +SKIP
>>> exp.heatmap.shape, exp.overlay().dtype                                           # doctest: +SKIP
((300, 451), dtype('uint8'))

Methods are a registry (:data:`METHODS`, :func:`register_method`); models plug in through their
backend's ``explain_adapter()`` (:class:`ExplainAdapter`); :mod:`.scoring` scores maps against
ground truth (pointing game, deletion/insertion AUC) and :mod:`.scratch` is Grad-CAM in 20 lines.
"""

from .adapters import ClassTarget, ExplainAdapter, TextTarget, TokenGrid, get_adapter
from .api import (available_layers, available_methods, compare, default_layer, explain, explain_batch, method_info,
                  target_scorer)
from .explanation import Explanation
from .methods import METHOD_MODULES, METHODS, ExplainRequest, Method, MethodResult, register_method

__all__ = [
    "ClassTarget", "ExplainAdapter", "ExplainRequest", "Explanation", "METHODS", "METHOD_MODULES", "Method",
    "MethodResult", "TextTarget", "TokenGrid", "available_layers", "available_methods", "compare", "default_layer",
    "explain", "explain_batch", "get_adapter", "method_info", "register_method", "target_scorer",
]
