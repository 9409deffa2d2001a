"""The REST endpoints of ``mmbench serve``: one :class:`Endpoint` row per task the library offers.

Each row names its path (``/v1/matching/similarity``), the registry task whose pipeline it runs
and its typed input :class:`~mmbench.serve.schemas.Field`\\ s. Its ``run(pipe, **inputs) -> dict``
calls the library on already decoded, validated inputs (PIL images, ``(sample_rate, samples)``
audio, lists of strings) and returns JSON-able data — no logic of its own beyond turning results
into JSON. Rows and functions are plain module-level objects, so they pickle (Ray Serve replicas
call :func:`execute` too).

>>> from mmbench.serve.tasks import ENDPOINTS, execute                           # doctest: +SKIP
>>> execute("matching.similarity", {"images": [png_b64], "texts": ["a red circle"]})  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import InvalidInputError
from .schemas import Field, b64encode, decode, png_base64

#: Environment variable naming a photo index (``mmbench index build``) that ``/v1/search`` queries.
INDEX_ENV = "MMBENCH_INDEX"
#: API version prefix of every REST path.
PREFIX = "/v1"

MODEL = Field("model", "text", doc="registry name of the model (default: the task's default; see `mmbench models`)")


@dataclass(frozen=True)
class Endpoint:
    """One REST endpoint.

    Attributes:
        name: stable id (``"matching.similarity"``), the key of :data:`ENDPOINTS`.
        path: URL path, versioned (``"/v1/matching/similarity"``).
        task: the registry task whose pipeline ``run`` receives (None: no model).
        run: ``run(pipe, **inputs) -> dict`` on decoded inputs.
        fields: the inputs (``model`` is added to every endpoint with a task).
        summary: one line for the OpenAPI docs.
        batchable: whether requests may be batched together (embeddings, classification).
    """

    name: str
    path: str
    task: str | None
    run: Callable[..., dict]
    fields: tuple[Field, ...]
    summary: str
    batchable: bool = False

    @property
    def all_fields(self) -> tuple[Field, ...]:
        """The endpoint's fields plus ``model`` when it runs a pipeline."""
        return (*self.fields, MODEL) if self.task else self.fields

    def prepare(self, wire: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
        """``(model, inputs)``: the requested model name and the decoded, validated inputs of a wire dict."""
        inputs = decode(self.all_fields, wire)
        return inputs.pop("model", None), inputs

    def load(self, model: str | None = None) -> Any:
        """The pipeline this endpoint runs (from the process-wide model cache), or None without a task."""
        if self.task is None:
            return None
        from ..loading import pipeline

        return pipeline(self.task, model=model)


def describe(pipe: Any) -> dict[str, Any]:
    """Which model answered: name, tier and any fallback notice (added to every response)."""
    if pipe is None:
        return {}
    out = {"model": pipe.spec.name, "tier": pipe.spec.tier}
    if pipe.notice:
        out["notice"] = pipe.notice
    return out


def execute(name: str, wire: dict[str, Any], pipe: Any = None) -> dict[str, Any]:
    """Decode ``wire``, load the pipeline (unless ``pipe`` is given) and run endpoint ``name``.

    Returns the endpoint's JSON-able result plus ``model``/``tier`` (see :func:`describe`).
    Raises the library's typed errors (:class:`~mmbench.errors.MMBenchError`) for bad inputs.
    """
    endpoint = ENDPOINTS[name]
    model, inputs = endpoint.prepare(wire)
    if pipe is None:
        pipe = endpoint.load(model)
    result = endpoint.run(pipe, **inputs)
    result.update(describe(pipe))
    return result


# -- matching -----------------------------------------------------------------------------------
def similarity(pipe: Any, images: list, texts: list[str]) -> dict:
    """Cosine similarity of every image with every text, and per-image softmax probabilities."""
    result = pipe(images, texts)
    return {"similarity": result.similarity.tolist(), "probs": result.probs.tolist(), "texts": result.texts,
            "logit_scale": result.logit_scale}


def zero_shot(pipe: Any, image: Any, labels: list[str], templates: list[str] | None = None,
              use_templates: bool = True) -> dict:
    """Zero-shot classification of one image among free-text labels (prompt-template ensemble)."""
    from ..pipelines.matching import DEFAULT_TEMPLATES

    tpl = templates if templates is not None else (DEFAULT_TEMPLATES if use_templates else None)
    result = pipe.zero_shot_classify(image, labels, tpl)
    return {"top": result.top, "labels": result.labels, "probs": [float(p) for p in result.probs],
            "scores": result.scores}


def embed(pipe: Any, images: list | None = None, texts: list[str] | None = None) -> dict:
    """L2-normalised CLIP embeddings of images and/or texts (same space: dot product = cosine)."""
    if images is None and texts is None:
        raise InvalidInputError("Send 'images', 'texts' or both.")
    out: dict[str, Any] = {"dim": pipe.embed_dim}
    if images is not None:
        out["image_embeddings"] = pipe.embed_images(images).tolist()
    if texts is not None:
        out["text_embeddings"] = pipe.embed_texts(texts).tolist()
    return out


def configured_index() -> str | None:
    """Path of the photo index ``/v1/search`` queries when no gallery is uploaded (``MMBENCH_INDEX``)."""
    return os.environ.get(INDEX_ENV, "").strip() or None


def search(pipe: Any, query: str, images: list | None = None, ids: list[str] | None = None, k: int = 5) -> dict:
    """Text → image search over the uploaded ``images`` (gallery), or over the configured photo index."""
    if images is not None:
        if ids is not None and len(ids) != len(images):
            raise InvalidInputError(f"Got {len(images)} images but {len(ids)} ids.")
        gallery = pipe.build_gallery(images, ids)
        hits = pipe.search(gallery, query, k=k)
        return {"source": "gallery", "hits": [{"id": h.id, "score": h.score, "rank": h.rank,
                                               "score_kind": h.score_kind} for h in hits]}
    path = configured_index()
    if path is None:
        raise InvalidInputError("No gallery was sent and the server has no photo index.",
                                hint="Send 'images' to search among, or start the server with --index PATH "
                                     f"(or {INDEX_ENV}=PATH) after `mmbench index build FOLDER`.")
    from ..photos import search_configured  # opened once per process, reopened after a rebuild

    hits = search_configured(query, k, path)
    return {"source": "index", "hits": [{"id": h["path"], "score": h["score"], "rank": h["rank"]} for h in hits]}


# -- images -------------------------------------------------------------------------------------
def classify_image(pipe: Any, image: Any, top_k: int = 5) -> dict:
    """ImageNet-style classification: the ``top_k`` classes, most likely first."""
    return {"predictions": [{"label": p.label, "index": p.index, "prob": p.prob} for p in pipe(image, top_k=top_k)]}


def caption(pipe: Any, image: Any, prompt: str | None = None, max_new_tokens: int = 30, num_beams: int = 1) -> dict:
    """Caption one image; words come with their probabilities."""
    result = pipe(image, prompt, max_new_tokens=max_new_tokens, num_beams=num_beams, attention=False)
    return {"caption": result.caption, "mean_probability": float(result.mean_probability),
            "words": [{"text": w.text, "probability": float(w.probability)} for w in result.words]}


def answer(pipe: Any, image: Any, question: str, num_beams: int = 1) -> dict:
    """Answer a question about one image."""
    result = pipe(image, question, num_beams=num_beams)
    return {"question": result.question, "answer": result.answer, "probability": float(result.probability)}


def explain_image(pipe: Any, image: Any, target: str, method: str | None = None) -> dict:
    """Why the model gives ``target`` its score: a heatmap (PNG overlay, base64) and its numbers."""
    import numpy as np

    from ..explain import explain

    target_value: Any = int(target) if pipe.task == "image-classification" and target.strip().isdigit() else target
    exp = explain(pipe, image, target_value, method=method)
    small = _downsample(exp.heatmap, 32)
    x, y = exp.peak
    return {"method": exp.method, "target": exp.target, "layer": exp.layer, "peak": {"x": int(x), "y": int(y)},
            "heatmap_shape": list(exp.heatmap.shape), "heatmap_32": np.round(small, 4).tolist(),
            "mean": float(exp.heatmap.mean()), "overlay_png_base64": png_base64(exp.overlay()),
            "scores": exp.scores, "meta": _jsonable(exp.meta)}


def _downsample(heatmap: Any, side: int) -> Any:
    from PIL import Image
    import numpy as np

    return np.asarray(Image.fromarray(heatmap.astype(np.float32), mode="F").resize((side, side), Image.BILINEAR))


def _jsonable(value: Any) -> Any:
    import numpy as np

    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return None if isinstance(value, np.ndarray) and value.size > 64 else (
        value.tolist() if isinstance(value, np.ndarray) else str(value))


def text_to_image(pipe: Any, prompt: str, negative_prompt: str | None = None, num_inference_steps: int | None = None,
                  guidance_scale: float | None = None, width: int | None = None, height: int | None = None,
                  seed: int | None = None, num_images: int = 1) -> dict:
    """Generate images from a prompt; PNGs in base64, with the seeds that reproduce them."""
    result = pipe(prompt, negative_prompt=negative_prompt, num_inference_steps=num_inference_steps,
                  guidance_scale=guidance_scale, width=width, height=height, seed=seed, num_images=num_images)
    return {"images_png_base64": [png_base64(im) for im in result.images], "seeds": list(result.seeds),
            "width": result.width, "height": result.height, "num_inference_steps": result.num_inference_steps,
            "guidance_scale": result.guidance_scale, "seconds": result.seconds}


# -- audio --------------------------------------------------------------------------------------
def _audio_result(result: Any) -> dict:
    return {"wav_base64": b64encode(result.wav_bytes()), "sample_rate": result.sample_rate,
            "duration": result.duration, "seed": result.seed, "prompt": result.prompt,
            "processing_s": result.processing_s, "notes": list(result.notes)}


def text_to_speech(pipe: Any, text: str, voice: str | None = None, speed: float = 1.0, seed: int | None = None) -> dict:
    """Speak ``text``: a 16-bit WAV in base64."""
    return _audio_result(pipe(text, voice=voice, speed=speed, seed=seed))


def text_to_audio(pipe: Any, prompt: str, duration: float | None = None, seed: int | None = None) -> dict:
    """Sound or music for ``prompt``: a 16-bit WAV in base64."""
    return _audio_result(pipe(prompt, duration=duration, seed=seed))


def transcribe(pipe: Any, audio: tuple, language: str | None = None, word_timestamps: bool = False,
               beam_size: int = 5) -> dict:
    """Transcribe a recording: text, language and timed segments."""
    t = pipe(audio, language=language, word_timestamps=word_timestamps, beam_size=beam_size)
    return {"text": t.text, "language": t.language, "language_probability": t.language_probability,
            "duration": t.duration, "processing_s": t.processing_s,
            "segments": [{"start": s.start, "end": s.end, "text": s.text} for s in t.segments]}


def classify_audio(pipe: Any, audio: tuple, top_k: int = 3) -> dict:
    """Classify a voice clip (the offline model reads sentiment from prosody, as in the fusion lab)."""
    return {"predictions": [{"label": p.label, "index": p.index, "prob": p.prob} for p in pipe(audio, top_k=top_k)]}


# -- video and text -----------------------------------------------------------------------------
def classify_video(pipe: Any, video: bytes, top_k: int = 5, labels: list[str] | None = None) -> dict:
    """Classify a video: top-k labels, with per-window scores."""
    return pipe(video, top_k=top_k, labels=labels).as_dict()


def sentence_embedding(pipe: Any, texts: list[str]) -> dict:
    """Sentence embeddings, one row per text."""
    emb = pipe(texts)
    return {"embeddings": emb.tolist(), "dim": int(emb.shape[1])}


def _endpoints(*rows: Endpoint) -> dict[str, Endpoint]:
    return {row.name: row for row in rows}


_IMAGE = Field("image", "image", True)
_TOP_K = Field("top_k", "int", default=5, doc="how many classes to return")

#: Every REST endpoint, by name.
ENDPOINTS: dict[str, Endpoint] = _endpoints(
    Endpoint("matching.similarity", f"{PREFIX}/matching/similarity", "image-text-matching", similarity,
             (Field("images", "images", True), Field("texts", "texts", True)),
             "CLIP similarity matrix (images x texts) and per-image probabilities", batchable=True),
    Endpoint("matching.zero-shot", f"{PREFIX}/matching/zero-shot", "image-text-matching", zero_shot,
             (_IMAGE, Field("labels", "texts", True, doc="free-text class names"),
              Field("templates", "texts", doc='prompt templates with one "{}" (default: a small ensemble)'),
              Field("use_templates", "bool", default=True, doc="false: use the labels verbatim")),
             "Zero-shot classification of one image among free-text labels"),
    Endpoint("matching.embed", f"{PREFIX}/matching/embed", "image-text-matching", embed,
             (Field("images", "images"), Field("texts", "texts")),
             "CLIP embeddings of images and/or texts", batchable=True),
    Endpoint("matching.search", f"{PREFIX}/search", "image-text-matching", search,
             (Field("query", "text", True), Field("images", "images", doc="gallery to search (default: the photo index)"),
              Field("ids", "texts", doc="ids of the gallery images"), Field("k", "int", default=5)),
             "Text -> image search over an uploaded gallery or the server's photo index"),
    Endpoint("image.classify", f"{PREFIX}/image/classify", "image-classification", classify_image, (_IMAGE, _TOP_K),
             "Image classification (ImageNet classes)", batchable=True),
    Endpoint("captioning", f"{PREFIX}/captioning", "image-to-text", caption,
             (_IMAGE, Field("prompt", "text", doc="text the caption must start with"),
              Field("max_new_tokens", "int", default=30), Field("num_beams", "int", default=1)),
             "Caption an image"),
    Endpoint("vqa", f"{PREFIX}/vqa", "visual-question-answering", answer,
             (_IMAGE, Field("question", "text", True), Field("num_beams", "int", default=1)),
             "Answer a question about an image"),
    Endpoint("explain.classification", f"{PREFIX}/explain/classification", "image-classification", explain_image,
             (_IMAGE, Field("target", "text", True, doc="class name or index"),
              Field("method", "text", doc="gradcam (default), gradcam++, scorecam, eigencam, ...")),
             "Grad-CAM heatmap of an image classifier for one class"),
    Endpoint("explain.matching", f"{PREFIX}/explain/matching", "image-text-matching", explain_image,
             (_IMAGE, Field("target", "text", True, doc="free text: where does the image match it?"),
              Field("method", "text", doc="gradcam (default), attention methods for transformers...")),
             "Heatmap of where an image matches a text (CLIP)"),
    Endpoint("text-to-image", f"{PREFIX}/text-to-image", "text-to-image", text_to_image,
             (Field("prompt", "text", True), Field("negative_prompt", "text"), Field("num_inference_steps", "int"),
              Field("guidance_scale", "float"), Field("width", "int"), Field("height", "int"), Field("seed", "int"),
              Field("num_images", "int", default=1)),
             "Generate images from a prompt (PNG, base64)"),
    Endpoint("text-to-speech", f"{PREFIX}/text-to-speech", "text-to-speech", text_to_speech,
             (Field("text", "text", True), Field("voice", "text"), Field("speed", "float", default=1.0),
              Field("seed", "int")),
             "Speech for a text (WAV, base64)"),
    Endpoint("text-to-audio", f"{PREFIX}/text-to-audio", "text-to-audio", text_to_audio,
             (Field("prompt", "text", True), Field("duration", "float", doc="seconds"), Field("seed", "int")),
             "Sound or music for a prompt (WAV, base64)"),
    Endpoint("speech-recognition", f"{PREFIX}/speech-recognition", "speech-recognition", transcribe,
             (Field("audio", "audio", True), Field("language", "text", doc="ISO code; default: detect"),
              Field("word_timestamps", "bool", default=False), Field("beam_size", "int", default=5)),
             "Transcribe a recording"),
    Endpoint("audio.sentiment", f"{PREFIX}/audio/sentiment", "audio-classification", classify_audio,
             (Field("audio", "audio", True), Field("top_k", "int", default=3)),
             "Sentiment of a voice clip from its prosody (the fusion lab's audio model)", batchable=True),
    Endpoint("video.classify", f"{PREFIX}/video/classify", "video-classification", classify_video,
             (Field("video", "video", True), _TOP_K, Field("labels", "texts", doc="free-text labels (zero-shot models)")),
             "Classify a video"),
    Endpoint("text.embed", f"{PREFIX}/text/embed", "sentence-embedding", sentence_embedding,
             (Field("texts", "texts", True),), "Sentence embeddings", batchable=True),
)

#: Models ``/readyz`` waits for by default: the matching model (the demo's first tab).
DEFAULT_WARM: tuple[str, ...] = ("image-text-matching",)
