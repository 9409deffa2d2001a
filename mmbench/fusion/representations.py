"""Per-modality representations for the fusion lab, handcrafted and deep, with a feature cache.

======== ============ =========== ============================================================
modality name         kind        what it is
======== ============ =========== ============================================================
text     ``tfidf``    handcrafted TF-IDF of word 1-2-grams (fitted on the training split)
text     ``minilm``   deep        all-MiniLM-L6-v2 sentence embedding (384-d, real weights,
                                  ``mmbench.pipeline("sentence-embedding")``)
text     ``clip``     deep        the matching pipeline's CLIP text embedding
image    ``hog``      handcrafted HOG + RGB colour histograms (:func:`image_features`)
image    ``clip``     deep        the matching pipeline's CLIP image embedding
image    ``expression`` deep      the largest face's 7 expression probabilities + a face-found flag
                                  (``mmbench.pipeline("face-expression")``; zeros without a face)
audio    ``mfcc``     handcrafted MFCC + chroma statistics + loudness-envelope spectrum
                                  (:func:`audio_features`)
audio    ``cnn``      deep        penultimate layer of the spectrogram CNN mmbench-prosody-cnn
                                  (``mmbench.pipeline("audio-classification")``)
any      ``given``    --          features that came with the data (CMU-MOSI/MOSEI pickles)
======== ============ =========== ============================================================

A deep representation names its model after ``@`` to use another registry row, e.g.
``"clip@openclip-vit-b-32"`` (the default for ``clip`` is the offline ``mmbench-tiny-clip``, so
results do not depend on the network). Every model loads through :func:`mmbench.pipeline`.

Extraction is cached in memory and on disk (``$MMBENCH_FEATURE_CACHE``, default
``~/.cache/mmbench/features``; ``off`` disables the disk) under a key made of the data's content
hash, the modality, the representation and the model's identity (name, source, weight file size
and time), so a second run, another seed with the same samples, or the notebook after the CLI
reuse the features.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..data.sentiment import SAMPLE_RATE
from ..errors import InvalidInputError

MODALITIES: tuple[str, ...] = ("text", "image", "audio")


@dataclass(frozen=True)
class Representation:
    """One way to turn a modality into a feature vector."""

    modality: str
    name: str
    kind: str  # "handcrafted" | "deep" | "given"
    description: str
    model: str | None = None  # default registry model for deep representations
    task: str | None = None  # the pipeline task that serves the model
    fitted: bool = False  # fitted on the training split (TF-IDF): never cached

    @property
    def label(self) -> str:
        return f"{self.name} ({self.kind})"


REPRESENTATIONS: dict[str, dict[str, Representation]] = {
    "text": {
        "tfidf": Representation("text", "tfidf", "handcrafted", "TF-IDF of word 1- and 2-grams (<= 2,000, sublinear tf)",
                                fitted=True),
        "minilm": Representation("text", "minilm", "deep", "all-MiniLM-L6-v2 sentence embedding, 384-d",
                                 model="all-minilm-l6-v2", task="sentence-embedding"),
        "clip": Representation("text", "clip", "deep", "CLIP text-tower embedding",
                               model="mmbench-tiny-clip", task="image-text-matching"),
    },
    "image": {
        "hog": Representation("image", "hog", "handcrafted", "HOG (8-px cells, 9 orientations) + 8-bin RGB histograms"),
        "clip": Representation("image", "clip", "deep", "CLIP image-tower embedding",
                               model="mmbench-tiny-clip", task="image-text-matching"),
        "expression": Representation("image", "expression", "deep",
                                     "largest face's expression probabilities + face found (MTCNN + mini-Xception), 8-d",
                                     model="fer-mini-xception", task="face-expression"),
    },
    "audio": {
        "mfcc": Representation("audio", "mfcc", "handcrafted",
                               "mean/std/slope of 20 MFCCs and 12 chroma bins + loudness-envelope spectrum"),
        "cnn": Representation("audio", "cnn", "deep", "spectrogram CNN embedding (mmbench-prosody-cnn), 64-d",
                              model="mmbench-prosody-cnn", task="audio-classification"),
    },
}
DEFAULT_REPRESENTATIONS: dict[str, str] = {"text": "tfidf", "image": "hog", "audio": "mfcc"}
DEEP_REPRESENTATIONS: dict[str, str] = {"text": "minilm", "image": "clip", "audio": "cnn"}
#: Side of the square RGB array real images (paths) are resized to for the handcrafted image features.
REAL_IMAGE_SIZE = 64


def parse(modality: str, spec: str) -> tuple[Representation, str | None]:
    """``"clip@openclip-vit-b-32"`` -> (the ``clip`` representation of ``modality``, model override)."""
    if modality not in REPRESENTATIONS:
        raise InvalidInputError(f"Unknown modality {modality!r}.", hint=f"Use one of {list(MODALITIES)}.")
    if not isinstance(spec, str) or not spec.strip():
        raise InvalidInputError(f"The representation of {modality} must be a name such as "
                                f"{list(REPRESENTATIONS[modality])}, not {spec!r}.")
    name, _, model = spec.strip().partition("@")
    if name == "given":
        return Representation(modality, "given", "given", "features that came with the data"), None
    rep = REPRESENTATIONS[modality].get(name)
    if rep is None:
        raise InvalidInputError(f"Unknown {modality} representation {name!r}.",
                                hint=f"Choose from {list(REPRESENTATIONS[modality])} (or 'given' for features "
                                     "that came with the data).")
    if model and rep.kind != "deep":
        raise InvalidInputError(f"The {modality} representation {name!r} is handcrafted; it takes no model "
                                f"('{spec}').")
    return rep, (model or None)


def resolve(representations: Mapping[str, str] | None, modalities: Sequence[str] = MODALITIES) -> dict[str, str]:
    """Defaults filled in and every name checked: ``{modality: "name[@model]"}`` for ``modalities``."""
    given = dict(representations or {})
    unknown = set(given) - set(MODALITIES)
    if unknown:
        raise InvalidInputError(f"Representations given for unknown modalities {sorted(unknown)}.",
                                hint=f"Use the modalities {list(MODALITIES)}.")
    out = {m: given.get(m, DEFAULT_REPRESENTATIONS[m]) for m in modalities}
    for m, spec in out.items():
        parse(m, spec)
    return out


def parse_assignments(text: str) -> dict[str, str]:
    """``"text=minilm,image=clip"`` -> ``{"text": "minilm", "image": "clip"}`` (checked), for command lines."""
    out = {}
    for part in (p.strip() for p in str(text).split(",") if p.strip()):
        modality, sep, name = part.partition("=")
        if not sep or not name.strip():
            raise InvalidInputError(f"Cannot read {part!r} as modality=representation.",
                                    hint="Write e.g. text=minilm,image=clip,audio=cnn.")
        out[modality.strip()] = name.strip()
    resolve(out)
    return out


# -- the extractors ---------------------------------------------------------------------------------------
def _pipeline(task: str, model: str) -> Any:
    from ..loading import pipeline

    return pipeline(task, model=model, device="cpu")


def image_array(images: Any, size: int = REAL_IMAGE_SIZE) -> np.ndarray:
    """``(N, H, W, 3)`` uint8 from an array (returned as is) or from image paths (resized to ``size``)."""
    if isinstance(images, np.ndarray):
        return images
    from ..io import validate_image

    return np.stack([np.asarray(validate_image(p, what=f"image {i}").convert("RGB").resize((size, size)))
                     for i, p in enumerate(images)])


def image_features(images: np.ndarray) -> np.ndarray:
    """HOG (8-px cells, 2x2 blocks, 9 orientations on the grey image) + an 8-bin histogram per RGB channel."""
    from skimage.feature import hog

    images = np.asarray(images)
    if images.ndim != 4 or images.shape[-1] != 3:
        raise InvalidInputError(f"images must be (N, H, W, 3), got shape {images.shape}.")
    grey = images.astype(np.float32).mean(axis=-1) / 255.0
    hogs = np.stack([hog(g, orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2), feature_vector=True)
                     for g in grey])
    bins = np.linspace(0, 256, 9)
    hist = np.stack([np.concatenate([np.histogram(im[..., c], bins=bins)[0] for c in range(3)]) for im in images])
    hist = hist / float(images.shape[1] * images.shape[2])
    return np.concatenate([hogs, hist], axis=1).astype(np.float32)


def audio_features(audio: np.ndarray, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Summary statistics of 20 MFCCs and 12 chroma bins: mean, std and mean first difference (the
    pitch contour's direction) over time, plus the RMS envelope's spectrum (the pulse rate)."""
    import librosa  # first import can take seconds (numba); hence lazy

    audio = np.asarray(audio, dtype=np.float32)
    if audio.ndim != 2:
        raise InvalidInputError(f"audio must be (N, samples), got shape {audio.shape}.")
    mfcc = librosa.feature.mfcc(y=audio, sr=sr, n_mfcc=20, n_fft=512, hop_length=128, n_mels=40)  # (N, 20, T)
    chroma = librosa.feature.chroma_stft(y=audio, sr=sr, n_fft=1024, hop_length=128)  # (N, 12, T)
    rms = librosa.feature.rms(y=audio, frame_length=256, hop_length=64)[:, 0, :]  # (N, T')
    env = np.abs(np.fft.rfft(rms - rms.mean(axis=1, keepdims=True), axis=1))[:, 1:16]
    env = env / (env.sum(axis=1, keepdims=True) + 1e-6)
    parts = []
    for f in (mfcc, chroma):
        parts += [f.mean(axis=2), f.std(axis=2), np.diff(f, axis=2).mean(axis=2) * f.shape[2]]
    return np.concatenate(parts + [env], axis=1).astype(np.float32)


def _chunks(items: Sequence, n: int):
    for i in range(0, len(items), n):
        yield items[i:i + n]


def extract(modality: str, spec: str, values: Any, *, sample_rate: int | None = None, cache: bool = True) -> np.ndarray:
    """Raw (unstandardised) features ``(N, D)`` float32 of ``values`` (texts, images or clips) for a
    non-fitted representation; cached (see the module docstring) unless ``cache=False`` (one-off
    inputs such as the edited texts of a word-occlusion explanation)."""
    rep, model = parse(modality, spec)
    if rep.fitted or rep.kind == "given":
        raise InvalidInputError(f"The {modality} representation {rep.name!r} is not extracted per sample "
                                f"({'fitted on the training split' if rep.fitted else 'it comes with the data'}).")
    model = model or rep.model
    key = _cache_key(modality, rep.name, model, rep.task, values, sample_rate) if cache else None
    hit = FEATURE_CACHE.get(key) if key else None
    if hit is not None:
        return hit
    x = _compute(rep, model, values, sample_rate)
    if not np.all(np.isfinite(x)):
        raise InvalidInputError(f"The {rep.name} features of the {modality} contain NaN or infinite values.",
                                hint="Check the input data (silent or corrupt clips, empty images).")
    if key:
        FEATURE_CACHE.put(key, x)
    return x


def _compute(rep: Representation, model: str | None, values: Any, sample_rate: int | None) -> np.ndarray:
    if rep.modality == "image" and rep.name == "hog":
        return image_features(image_array(values))
    if rep.modality == "audio" and rep.name == "mfcc":
        return audio_features(_audio_array(values), sr=sample_rate or SAMPLE_RATE)
    pipe = _pipeline(rep.task, model)
    if rep.task == "sentence-embedding":
        return pipe.embed(list(values))
    if rep.task == "image-text-matching":
        embed = pipe.embed_texts if rep.modality == "text" else pipe.embed_images
        items = list(values) if rep.modality == "text" else [np.asarray(v) if isinstance(v, np.ndarray) else v
                                                             for v in values]
        return np.concatenate([embed(chunk) for chunk in _chunks(items, 1000)]).astype(np.float32)
    if rep.task == "audio-classification":
        return pipe.embed(_audio_array(values), sample_rate=sample_rate)
    if rep.task == "face-expression":
        return expression_features(pipe, values)
    raise AssertionError(rep)  # pragma: no cover - every representation is handled above


def expression_features(pipe: Any, images: Any) -> np.ndarray:
    """``(N, C + 1)``: the largest face's expression probabilities and 1, or zeros when no face is found
    (the procedural world's images have none: the cue is for real photos)."""
    rows = []
    for image in images:
        result = pipe(image, max_faces=1)
        face = result.faces[0] if result.faces else None
        rows.append([*(face.expressions.values() if face else [0.0] * len(pipe.labels)), 1.0 if face else 0.0])
    return np.asarray(rows, dtype=np.float32).reshape(len(rows), len(pipe.labels) + 1)


def _audio_array(values: Any) -> np.ndarray:
    x = np.asarray(values, dtype=np.float32)
    if x.ndim != 2:
        raise InvalidInputError(f"Audio for the fusion lab must be an array of equal-length clips (N, samples), "
                                f"got shape {x.shape}.")
    return x


# -- the cache ---------------------------------------------------------------------------------------------
def data_fingerprint(values: Any) -> str:
    """A content hash of texts, an array, or a list of file paths (path, size, modification time)."""
    h = hashlib.sha256()
    if isinstance(values, np.ndarray):
        arr = np.ascontiguousarray(values)
        h.update(f"{arr.dtype}{arr.shape}".encode())
        h.update(arr.data)
    else:
        for v in values:
            if isinstance(v, str):
                h.update(b"s" + v.encode("utf-8", "surrogatepass") + b"\x00")
            elif isinstance(v, os.PathLike):
                p = Path(v)
                st = p.stat() if p.exists() else None
                h.update(f"p{p.resolve()}|{st.st_size if st else -1}|{st.st_mtime_ns if st else -1}\x00".encode())
            else:
                arr = np.ascontiguousarray(np.asarray(v))
                h.update(f"a{arr.dtype}{arr.shape}".encode())
                h.update(arr.data)
    return h.hexdigest()


def model_fingerprint(model: str | None) -> str:
    """Registry row identity + the weight files' size and time (a retrained model gets new features)."""
    if model is None:
        return "-"
    from ..registry import get_spec

    try:
        spec = get_spec(model)
    except Exception:  # an unknown model fails later, in pipeline(), with the registry's message
        return model
    parts = [spec.name, spec.source, repr(sorted(spec.options.items()))]
    folder = spec.assets_path
    if folder is not None and folder.is_dir():
        for f in sorted(folder.glob("*.safetensors")):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    elif spec.source.startswith("package:"):
        from importlib import metadata

        try:
            parts.append(metadata.version(spec.source.split(":", 1)[1]))
        except metadata.PackageNotFoundError:
            parts.append("not-installed")
    return "|".join(parts)


def _cache_key(modality: str, name: str, model: str | None, task: str | None, values: Any,
               sample_rate: int | None) -> str:
    ident = f"v1|{modality}|{name}|{task}|{model_fingerprint(model)}|sr={sample_rate}|{data_fingerprint(values)}"
    return hashlib.sha256(ident.encode()).hexdigest()[:32]


def feature_cache_dir() -> Path | None:
    """``$MMBENCH_FEATURE_CACHE`` (``off``/``0`` disables the disk cache) or ``~/.cache/mmbench/features``."""
    env = os.environ.get("MMBENCH_FEATURE_CACHE")
    if env is not None and env.strip().lower() in {"", "0", "off", "no", "false"}:
        return None
    return Path(env).expanduser() if env else Path.home() / ".cache" / "mmbench" / "features"


class FeatureCache:
    """In-memory LRU (``max_items`` arrays) in front of a folder of ``<key>.npy`` files."""

    def __init__(self, max_items: int = 64) -> None:
        self.max_items = max_items
        self._mem: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = self.misses = 0

    def get(self, key: str) -> np.ndarray | None:
        with self._lock:
            if key in self._mem:
                self._mem.move_to_end(key)
                self.hits += 1
                return self._mem[key]
        folder = feature_cache_dir()
        path = folder / f"{key}.npy" if folder else None
        if path is not None and path.is_file():
            try:
                x = np.load(path, allow_pickle=False)
            except (OSError, ValueError):  # a truncated file from a killed process: recompute
                x = None
            if x is not None:
                self._remember(key, x)
                self.hits += 1
                return x
        self.misses += 1
        return None

    def put(self, key: str, x: np.ndarray) -> None:
        x = np.ascontiguousarray(x, dtype=np.float32)
        x.setflags(write=False)  # shared between callers: nobody may modify it in place
        self._remember(key, x)
        folder = feature_cache_dir()
        if folder is None:
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=folder, suffix=".npy.tmp")
            with os.fdopen(fd, "wb") as fh:
                np.save(fh, x, allow_pickle=False)
            os.replace(tmp, folder / f"{key}.npy")
        except OSError:  # a read-only home: the in-memory cache still works
            pass

    def _remember(self, key: str, x: np.ndarray) -> None:
        with self._lock:
            self._mem[key] = x
            self._mem.move_to_end(key)
            while len(self._mem) > self.max_items:
                self._mem.popitem(last=False)

    def clear(self, disk: bool = False) -> None:
        with self._lock:
            self._mem.clear()
        folder = feature_cache_dir()
        if disk and folder is not None and folder.is_dir():
            for f in folder.glob("*.npy"):
                f.unlink(missing_ok=True)


FEATURE_CACHE = FeatureCache()
