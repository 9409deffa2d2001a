"""Example media for the web app, the notebooks and the docs — all offline.

Procedural scenes come from :class:`mmbench.data.world.World` (the offline tiny CLIP knows them);
real photos come from ``skimage.data``, which ships them inside the scikit-image package (the
offline tiny CLIP does *not* know them: they need an online CLIP). :func:`example_files` writes
both to a cache folder because ``gr.Examples`` needs file paths.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .io import atomic_write

if TYPE_CHECKING:  # pragma: no cover
    from PIL import Image

__all__ = [
    "DISPLAY_SIZE", "EXAMPLE_SEED", "GALLERY_SEED", "REAL_PHOTO_TEXTS", "ExampleFiles", "example_files",
    "procedural_examples", "procedural_gallery", "real_photos", "upscale",
]

#: World seeds of the example scenes and of the built-in search gallery: never used for training
#: (seeds below 10 000) and away from the standard held-out evaluation sets (10 001 and up), so the
#: examples show generalisation without leaking the benchmark.
EXAMPLE_SEED: int = 31337
GALLERY_SEED: int = 42424
#: Side in pixels that procedural 64x64 scenes are upscaled to for display (the model resizes back).
DISPLAY_SIZE: int = 256

#: skimage.data photo name -> a caption that describes it (candidate texts for the online CLIP).
REAL_PHOTO_TEXTS: dict[str, str] = {
    "chelsea": "a photo of a cat",
    "coffee": "a cup of coffee",
    "astronaut": "a portrait of an astronaut",
    "rocket": "a rocket on a launch pad",
}

_CACHE_VERSION = "v2"  # bump when the files' content changes, so stale caches are not reused


def upscale(image: Any, size: int = DISPLAY_SIZE) -> Image.Image:
    """A small image (PIL or uint8 array) enlarged to ``size`` x ``size`` with hard pixel edges."""
    from PIL import Image

    img = image if isinstance(image, Image.Image) else Image.fromarray(image)
    return img.convert("RGB").resize((size, size), Image.NEAREST)


def procedural_examples(n: int = 8, seed: int = EXAMPLE_SEED,
                        size: int = DISPLAY_SIZE) -> list[tuple[Image.Image, str]]:
    """``n`` procedural scenes as ``(image, canonical caption)``, images upscaled to ``size`` pixels.

    The first scenes are chosen to cover one, two and three objects in turn, so any prefix of
    the list shows every kind of caption.
    """
    from .data.world import World

    world = World(seed=seed)
    out: list[tuple[Image.Image, str]] = []
    seen: set[str] = set()
    index = 0
    while len(out) < n:
        scene = world.scene(index, n_objects=(1, 2, 3)[len(out) % 3])
        index += 1
        if scene.caption in seen:  # every example should show something new
            continue
        seen.add(scene.caption)
        out.append((upscale(scene.image, size), scene.caption))
    return out


def procedural_gallery(n: int = 200, seed: int = GALLERY_SEED) -> tuple[list[Image.Image], list[str]]:
    """A retrieval gallery: ``n`` native-size (64x64) scenes and their canonical captions."""
    from PIL import Image

    from .data.world import World

    scenes = World(seed=seed).scenes(n)
    return [Image.fromarray(s.image) for s in scenes], [s.caption for s in scenes]


def real_photos() -> dict[str, Image.Image]:
    """Real photos that ship inside scikit-image: ``{"chelsea": cat, "coffee": cup, ...}`` (RGB)."""
    import skimage.data
    from PIL import Image

    return {name: Image.fromarray(getattr(skimage.data, name)()).convert("RGB") for name in REAL_PHOTO_TEXTS}


@dataclass
class ExampleFiles:
    """Paths of the example files written by :func:`example_files`."""

    folder: Path
    procedural: list[tuple[str, str]] = field(default_factory=list)  # (path, caption)
    photos: dict[str, str] = field(default_factory=dict)  # name -> path


def default_cache_dir() -> Path:
    """``$MMBENCH_EXAMPLES_DIR`` or ``<tmp>/mmbench-examples``."""
    env = os.environ.get("MMBENCH_EXAMPLES_DIR")
    return Path(env) if env else Path(tempfile.gettempdir()) / "mmbench-examples"


def _save_once(path: Path, image: Image.Image, **save_kwargs: Any) -> None:
    if path.exists() and path.stat().st_size > 0:
        return
    fmt = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    atomic_write(path, lambda fh: image.save(fh, format=fmt, **save_kwargs))


def example_files(cache_dir: str | os.PathLike | None = None, n_procedural: int = 8,
                  photos: bool = True) -> ExampleFiles:
    """Write the example images once and return their paths (fast on later calls).

    Procedural scenes become PNGs (lossless: exact colours), photos JPEGs. The folder defaults to
    :func:`default_cache_dir`.
    """
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    folder = folder / _CACHE_VERSION
    folder.mkdir(parents=True, exist_ok=True)
    out = ExampleFiles(folder)
    captions_file = folder / f"procedural-{EXAMPLE_SEED}-{n_procedural}.txt"
    if captions_file.exists():
        captions = captions_file.read_text(encoding="utf-8").splitlines()
        paths = [folder / f"scene-{i:02d}.png" for i in range(n_procedural)]
        if len(captions) == n_procedural and all(p.exists() for p in paths):
            out.procedural = [(str(p), c) for p, c in zip(paths, captions)]
    if not out.procedural:
        for i, (image, caption) in enumerate(procedural_examples(n_procedural)):
            path = folder / f"scene-{i:02d}.png"
            _save_once(path, image)
            out.procedural.append((str(path), caption))
        text = "\n".join(c for _, c in out.procedural) + "\n"
        atomic_write(captions_file, lambda fh: fh.write(text.encode("utf-8")))
    if photos:
        missing = [name for name in REAL_PHOTO_TEXTS if not (folder / f"{name}.jpg").exists()]
        images = real_photos() if missing else {}
        for name in REAL_PHOTO_TEXTS:
            path = folder / f"{name}.jpg"
            if name in images:
                _save_once(path, images[name], quality=90)
            out.photos[name] = str(path)
    return out
