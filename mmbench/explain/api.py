"""``explain()``: the one call shape for every method and every pipeline, plus ``compare()`` and the
questions a UI asks (which methods, which layers, which default)."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..io import validate_images
from ..backends.adapters import ExplainAdapter, get_adapter
from .explanation import Explanation, to_image_coordinates
from .methods import ExplainRequest, Method, MethodResult, get_method, load_methods


def explain(pipe: Any, image: Any, target: Any, method: str | None = None, layer: str | None = None,
            **options: Any) -> Explanation:
    """Explain why ``pipe``'s model gives ``target`` its score on ``image``.

    With an image-to-text pipeline, ``target`` is a word of the caption the model writes (or its
    index) and the answer is that word's cross-attention map (``options``: decoding settings).
    With a video-classification pipeline, ``image`` is a video and the answer is a
    :class:`~.temporal.TemporalExplanation` (which frames mattered; see :func:`~.temporal.explain_video`).
    With a face-expression pipeline, ``target`` is an expression (None: the face's top one), option
    ``face`` picks the face (0 = leftmost) and the map, computed on that face's crop, is placed in the
    photo (see :func:`~.faces.explain_face`).

    Args:
        pipe: an mmbench pipeline (``mmbench.pipeline(...)``) or an :class:`ExplainAdapter`.
        image: a path, bytes, PIL image or array (validated like every mmbench input).
        target: for image classification a class name (``"Egyptian cat"``, any case) or index;
            for image-text matching a free text: the map shows where the image matches it.
        method: see :func:`available_methods` (``"gradcam"``, ``"gradcam++"``, ``"hirescam"``,
            ``"scorecam"``, ``"eigencam"``, ``"layercam"``; for vision transformers also
            ``"chefer"``, ``"rollout"``, ``"attention"``, see :mod:`.attention`...); None:
            ``"gradcam"`` for images, ``"temporal-occlusion"`` for videos.
        layer: a name from :func:`available_layers`; None uses ``default_layer(pipe, method)``.
        **options: method options (``shifts=2`` averages maps over sub-patch shifts of the
            input; ``batch_size`` for ScoreCAM) and target options (``baseline="a photo"`` for
            texts: the neutral caption whose similarity is subtracted; None for the raw cosine).

    Returns:
        An :class:`Explanation` whose ``heatmap`` is aligned with the validated input image.

    Raises:
        InvalidInputError (unknown method, layer, option or class), TextError (empty text),
        ImageError (unreadable image, or smaller than 2x2 pixels).
    """
    if getattr(pipe, "task", None) == "video-classification":
        from .temporal import explain_video

        return explain_video(pipe, image, target, method=method or "temporal-occlusion", layer=layer, **options)
    if getattr(pipe, "task", None) == "face-expression":  # the classifier's map on one face crop, in the photo
        from .faces import explain_face

        return explain_face(pipe, image, target, explain_batch, method=method or "gradcam", layer=layer, **options)
    if getattr(pipe, "task", None) == "image-to-text":  # a caption word's cross-attention map
        from .captioning import explain_word

        if method not in (None, "cross-attention") or layer is not None:
            raise InvalidInputError("Captioners are explained by their cross-attention only: leave method and layer unset.")
        return explain_word(pipe, image, target, **options)
    return explain_batch(pipe, [image], [target], method=method or "gradcam", layer=layer, **options)[0]


def explain_batch(pipe: Any, images: Sequence[Any], targets: Any, method: str = "gradcam",
                  layer: str | None = None, **options: Any) -> list[Explanation]:
    """:func:`explain` for several images in one batch; ``targets`` is one target for all images
    or one per image."""
    started = time.perf_counter()
    adapter = get_adapter(pipe)
    spec = get_method(method, adapter)
    pil = validate_images(images)
    if isinstance(targets, (str, bytes, int, np.integer)) or not isinstance(targets, Sequence):
        targets = [targets] * len(pil)
    targets = list(targets)
    if len(targets) != len(pil):
        raise InvalidInputError(f"Got {len(pil)} images but {len(targets)} targets.",
                                hint="Pass one target for all images, or one per image.")
    method_options, target_options = split_options(adapter, spec, options)
    layer_name = resolve_layer(adapter, spec, layer)
    target_fns = build_targets(adapter, targets, target_options)

    request = ExplainRequest(adapter=adapter, images=pil, targets=target_fns, layer=layer_name,
                             options=method_options, pipe=pipe if not isinstance(pipe, ExplainAdapter) else None)
    result = spec.run(request)
    if not isinstance(result, MethodResult):
        result = MethodResult(np.asarray(result, dtype=np.float32))
    maps = np.asarray(result.maps, dtype=np.float32)
    if maps.ndim != 3 or maps.shape[0] != len(pil):
        raise RuntimeError(f"method {spec.name!r} returned maps of shape {maps.shape} for {len(pil)} images")
    seconds = time.perf_counter() - started
    out = []
    for i, (im, fn) in enumerate(zip(pil, target_fns)):
        image = np.asarray(im)
        meta: dict[str, Any] = {
            "model": adapter.name, "method_label": spec.label, "family": spec.family,
            "target_kind": getattr(fn, "kind", "custom"), "options": dict(method_options),
            "input_size": tuple(adapter.input_size), "seconds": seconds / len(pil), **result.meta,
        }
        if hasattr(fn, "index"):
            meta["target_index"] = fn.index
        if getattr(fn, "kind", "") == "text":
            meta.setdefault("baseline", fn.baseline)  # a method that ignores it says so in its meta
        if result.target_scores is not None:
            meta["target_score"] = float(result.target_scores[i])
        scores = result.scores[i] if result.scores is not None else None
        out.append(Explanation(heatmap=to_image_coordinates(maps[i], image.shape[:2]), image=image, method=spec.name,
                               target=getattr(fn, "label", str(targets[i])), layer=layer_name, scores=scores,
                               meta=meta))
    return out


def compare(pipe: Any, image: Any, target: Any, methods: Sequence[str] | None = None, layer: str | None = None,
            **options: Any) -> list[Explanation]:
    """The same image and target explained by several methods (all available ones by default).

    ``layer`` applies to the methods that take one; each option goes to the methods that accept it.
    """
    adapter = get_adapter(pipe)
    names = list(methods) if methods is not None else available_methods(adapter)
    if not names:
        raise InvalidInputError("Choose at least one method to compare.",
                                hint=f"Valid methods: {', '.join(available_methods(adapter))}.")
    specs = [get_method(m, adapter) for m in names]
    accepted = set(adapter.target_options).union(*(s.options for s in specs))
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise InvalidInputError(f"Unknown option(s) {', '.join(unknown)} for these methods.",
                                hint=f"Accepted: {', '.join(sorted(accepted)) or 'none'}.")
    out = []
    for s in specs:
        kept = {k: v for k, v in options.items() if k in s.options or k in adapter.target_options}
        out.append(explain(adapter if isinstance(pipe, ExplainAdapter) else pipe, image, target, method=s.name,
                           layer=layer if s.uses_layer else None, **kept))
    return out


def available_methods(pipe: Any) -> list[str]:
    """Method ids usable with this pipeline's model."""
    if getattr(pipe, "task", None) == "video-classification":
        from .temporal import TEMPORAL_METHODS

        return list(TEMPORAL_METHODS)
    adapter = get_adapter(pipe)
    return [m.name for m in load_methods().values() if m.supports(adapter)]


def available_layers(pipe: Any) -> list[str]:
    """Names of the layers that layer-based methods can explain (shallow first)."""
    return list(get_adapter(pipe).layers)


def default_layer(pipe: Any, method: str | None = None) -> str:
    """The layer explained when none is named (some models prefer another one for some methods)."""
    return get_adapter(pipe).default_layer_for(get_method(method).name if method else None)


def method_info(name: str) -> Method:
    """The registry entry of a method (label, description, reference, options)."""
    return get_method(name)


def target_scorer(pipe: Any, target: Any, batch_size: int = 64, **target_options: Any):
    """``score(images) -> ndarray``: the explained score (class logit, or text similarity minus
    baseline) of each image, for deletion/insertion curves. Images: an ``(N, H, W, 3)`` uint8 array
    or a list of images."""
    import torch
    from PIL import Image

    adapter = get_adapter(pipe)
    fn = build_targets(adapter, [target], _only_target_options(adapter, target_options))[0]

    def score(images: Any) -> np.ndarray:
        pil = [Image.fromarray(np.asarray(im, dtype=np.uint8)) if not isinstance(im, Image.Image) else im
               for im in images]
        out = []
        with torch.inference_mode():
            for i in range(0, len(pil), batch_size):
                out.append(fn(adapter.image_model(adapter.preprocess(pil[i:i + batch_size]))).float().cpu())
        return torch.cat(out).numpy()

    return score


# -- helpers shared with the evaluation --------------------------------------------------------------
def split_options(adapter: ExplainAdapter, method: Method, options: dict[str, Any]) -> tuple[dict, dict]:
    """``(method options with defaults, target options)``; unknown names raise InvalidInputError."""
    target_options = {k: v for k, v in options.items() if k in adapter.target_options}
    rest = {k: v for k, v in options.items() if k not in adapter.target_options}
    unknown = sorted(set(rest) - set(method.options))
    if unknown:
        accepted = sorted(set(method.options) | set(adapter.target_options))
        raise InvalidInputError(f"Unknown option(s) for {method.name}: {', '.join(unknown)}.",
                                hint=f"Accepted: {', '.join(accepted) or 'none'}.")
    merged = dict(method.options)
    merged.update({k: v for k, v in adapter.default_options.items() if k in method.options})
    merged.update(rest)
    return merged, target_options


def _only_target_options(adapter: ExplainAdapter, options: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(options) - set(adapter.target_options))
    if unknown:
        raise InvalidInputError(f"Unknown target option(s): {', '.join(unknown)}.",
                                hint=f"Accepted: {', '.join(adapter.target_options) or 'none'}.")
    return options


def resolve_layer(adapter: ExplainAdapter, method: Method, layer: str | None) -> str | None:
    if not method.uses_layer:
        if layer is not None:
            raise InvalidInputError(f"The method {method.name!r} does not use a layer; leave layer unset.")
        return None
    return adapter.layer(layer, method.name)[0]


def build_targets(adapter: ExplainAdapter, targets: list[Any], target_options: dict[str, Any]) -> list[Any]:
    """One score callable per target (identical targets share one, so a text is encoded once)."""
    cache: dict[Any, Any] = {}
    out = []
    for t in targets:
        key = (type(t).__name__, t if isinstance(t, (str, int, np.integer)) else id(t))
        if key not in cache:
            cache[key] = adapter.target(t, **target_options)
        out.append(cache[key])
    return out
