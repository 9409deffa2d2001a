"""Building a photo index from a folder, resumably.

The folder's image files are listed once, sorted, and cut into batches of ``batch_size``; that
plan is saved in ``OUT/.build/plan.json``. Each batch is decoded (unreadable files are recorded,
not fatal), embedded, and saved as ``batch-NNNNNN.npy`` + ``batch-NNNNNN.json`` (the ``.json``,
written last and atomically, marks the batch done). A build killed at any moment and run again
reuses the plan and the finished batches, so the final index — vectors, paths, skipped files — is
the one an uninterrupted build writes. The last step concatenates the batches into the index,
writes ``photos.json`` (the commit point) and removes ``.build``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import InvalidInputError, SearchIndexError
from ..io.files import atomic_write
from .files import find_images, read_images

TASK = "image-text-matching"
FORMAT, VERSION = "mmbench-photo-index", 1
MANIFEST, PATHS, VECTORS_DIR, BUILD_DIR = "photos.json", "paths.json", "vectors", ".build"
#: Where ``build`` writes when no ``out`` is given: a hidden folder inside the photo folder.
DEFAULT_DIRNAME = ".mmbench-index"
DEFAULT_BATCH_SIZE = 64
#: Test hook: a build SIGKILLs its own process after saving this many batches (simulates a crash).
CRASH_AFTER_ENV = "MMBENCH_INDEX_CRASH_AFTER"

Progress = Callable[[int, int], None]

#: Generic prompts an IVF-PQ photo index is calibrated on (text queries sit apart from the images:
#: the modality gap), kept to those the model can read.
_GENERIC_SUBJECTS = ("dog", "cat", "person", "car", "tree", "beach", "mountain", "city street", "house", "flower",
                     "bird", "food", "sunset", "building", "bicycle", "boat", "child", "group of people", "snow",
                     "forest", "river", "horse", "computer", "book", "cup of coffee", "red car", "night sky")


def calibration_prompts(pipe: Any) -> list[str]:
    """Text queries to calibrate an approximate photo index on: everyday subjects and, for models
    of mmbench's procedural world, its colour-shape classes; only prompts the model can read."""
    from ..data.world import shape_colour_classes

    prompts = [f"a photo of a {s}." for s in _GENERIC_SUBJECTS] + [f"a {c}." for c in shape_colour_classes()]
    readable = [p for p in prompts if not pipe.unknown_words([p])]
    return readable or prompts


@dataclass
class BuildReport:
    """What :func:`build_index` did. ``files_per_second`` counts the files read (indexed or skipped)
    by this run over this run's wall time, model loading and writing the index included."""

    index: str
    model: str
    files_found: int
    indexed: int
    skipped: list[dict] = field(default_factory=list)
    batches: int = 0
    resumed_batches: int = 0
    files_processed: int = 0
    seconds: float = 0.0
    files_per_second: float = 0.0
    search: str = ""

    def as_dict(self) -> dict:
        """JSON-ready: every field plus ``skipped_count``."""
        return {**asdict(self), "skipped_count": len(self.skipped)}


def build_index(folder: str | os.PathLike, out: str | os.PathLike | None = None, *, model: str | None = None,
                batch_size: int = DEFAULT_BATCH_SIZE, progress: Progress | bool | None = None,
                overwrite: bool = False, pipe: Any = None) -> BuildReport:
    """Embed every image under ``folder`` with the image-text matching pipeline and write a photo
    index to ``out`` (default ``FOLDER/.mmbench-index``); resumes an interrupted build there.

    ``model``: registry name (default: the task's online model, else the offline tiny CLIP);
    ``pipe``: an already loaded matching pipeline instead. ``progress``: True for a progress bar on
    stderr, or ``progress(done, total)``. An existing finished index is refused unless ``overwrite``."""
    from ..ann import DiskIndex, write_vectors

    started = time.perf_counter()
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise InvalidInputError(f"batch_size must be a positive integer, got {batch_size!r}.")
    out = Path(out).expanduser() if out is not None else Path(folder).expanduser() / DEFAULT_DIRNAME
    root, files = find_images(folder, exclude=[out])
    work = out / BUILD_DIR
    _prepare(out, work, overwrite)
    plan = _load_plan(work, root)
    if plan is not None and model is not None and pipe is None and model != plan["model"]:
        raise SearchIndexError(f"An interrupted build in {str(out)!r} used the model {plan['model']!r}, not {model!r}.",
                               hint="Run the same command again to resume it, or pass overwrite=True (--overwrite) "
                                    "to start over with the new model.")
    if pipe is None:
        from ..loading import pipeline

        pipe = pipeline(TASK, model=plan["model"] if plan else model, fallback=plan is None)
    if plan is None:
        plan = {"root": str(root), "model": pipe.spec.name, "batch_size": batch_size, "files": files}
    elif pipe.spec.name != plan["model"]:
        raise SearchIndexError(f"An interrupted build in {str(out)!r} used the model {plan['model']!r}, "
                               f"not {pipe.spec.name!r}.", hint="Resume it with the same model, or start over.")
    known = set(plan["files"])
    plan["files"] = plan["files"] + [f for f in files if f not in known]  # files added since the plan
    _write_json(work / "plan.json", plan)

    size = int(plan["batch_size"])
    batches = [plan["files"][i:i + size] for i in range(0, len(plan["files"]), size)]
    done = [i for i in range(len(batches)) if (work / f"batch-{i:06d}.json").exists()]
    pending = [i for i in range(len(batches)) if i not in set(done)]
    processed = _embed_batches(pipe, root, work, batches, pending, done, progress)

    paths, skipped, dim = [], [], int(pipe.embed_dim)
    for i in range(len(batches)):
        record = json.loads((work / f"batch-{i:06d}.json").read_text(encoding="utf-8"))
        paths += record["files"]
        skipped += record["skipped"]
    if not paths:
        shown = "; ".join(f"{Path(s['path']).name}: {s['reason']}" for s in skipped[:3])
        raise InvalidInputError(f"None of the {len(plan['files'])} image files in {str(root)!r} could be read "
                                f"({shown}).", hint="Check that the files are images (PNG, JPEG, WebP...).")
    vectors_dir = out / VECTORS_DIR
    vectors_dir.mkdir(parents=True, exist_ok=True)
    chunks = (np.load(work / f"batch-{i:06d}.npy") for i in range(len(batches)))
    write_vectors(vectors_dir / "vectors.npy", (c for c in chunks if len(c)), dim)
    index = DiskIndex.create(vectors_dir, vectors_dir / "vectors.npy", kind="auto", overwrite=True)
    if index.kind == "ivfpq":
        index.calibrate(pipe.embed_texts(calibration_prompts(pipe)))
    _write_json(out / PATHS, paths)
    manifest = {"format": FORMAT, "version": VERSION, "task": TASK, "model": pipe.spec.name, "tier": pipe.spec.tier,
                "dim": dim, "root": str(root), "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "files_found": len(plan["files"]), "skipped": skipped}
    _write_json(out / MANIFEST, manifest)  # the commit point: from here on the index is complete
    shutil.rmtree(work, ignore_errors=True)
    seconds = time.perf_counter() - started
    return BuildReport(index=str(out.resolve()), model=pipe.spec.name, files_found=len(plan["files"]),
                       indexed=len(paths), skipped=[{**s, "path": str(root / s["path"])} for s in skipped],
                       batches=len(batches), resumed_batches=len(done), files_processed=processed,
                       seconds=round(seconds, 2), files_per_second=round(processed / max(seconds, 1e-9), 2),
                       search=index.description)


def _prepare(out: Path, work: Path, overwrite: bool) -> None:
    """Make ``out`` ready: refuse (or, with ``overwrite``, clear) a finished index; create folders."""
    finished = (out / MANIFEST).exists() and not work.exists()
    if finished and not overwrite:
        raise SearchIndexError(f"{str(out)!r} already holds a finished photo index.",
                               hint="Add new photos with `mmbench index add` (PhotoIndex.add), or rebuild it with "
                                    "--overwrite (overwrite=True).")
    if overwrite:
        for name in (MANIFEST, PATHS):
            (out / name).unlink(missing_ok=True)
        for name in (VECTORS_DIR, BUILD_DIR):
            shutil.rmtree(out / name, ignore_errors=True)
    try:
        work.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise InvalidInputError(f"Cannot write the index to {str(out)!r} ({err.__class__.__name__}: {err}).",
                                hint="Choose a writable folder with --out (out=...).") from None


def _load_plan(work: Path, root: Path) -> dict | None:
    path = work / "plan.json"
    if not path.exists():
        return None
    try:
        plan = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # written atomically, so only a foreign file can be unreadable: start over
    if plan.get("root") != str(root):
        raise SearchIndexError(f"{str(work.parent)!r} holds an interrupted build of another folder "
                               f"({plan.get('root')!r}).", hint="Resume that build, pass another --out, or "
                                                                "--overwrite to start over.")
    return plan


def _embed_batches(pipe: Any, root: Path, work: Path, batches: list[list[str]], pending: list[int],
                   done: list[int], progress: Progress | bool | None) -> int:
    """Embed and save the pending batches; the next batch is decoded in a thread meanwhile.
    Returns the number of files read."""
    total = sum(len(b) for b in batches)
    report, close = _progress(progress, total, sum(len(batches[i]) for i in done))
    crash_after = int(os.environ.get(CRASH_AFTER_ENV, "0") or 0)
    processed = 0
    try:
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmbench-photo-read") as pool:
            future = pool.submit(read_images, [root / f for f in batches[pending[0]]]) if pending else None
            for n, i in enumerate(pending):
                images, ok, skipped = future.result()
                if n + 1 < len(pending):
                    future = pool.submit(read_images, [root / f for f in batches[pending[n + 1]]])
                vectors = (pipe.embed_images(images) if images
                           else np.zeros((0, int(pipe.embed_dim)), dtype=np.float32))
                atomic_write(work / f"batch-{i:06d}.npy",
                             lambda fh, v=vectors: np.save(fh, np.asarray(v, dtype=np.float32), allow_pickle=False))
                record = {"files": [batches[i][j] for j in ok],
                          "skipped": [{**s, "path": Path(s["path"]).relative_to(root).as_posix()} for s in skipped]}
                _write_json(work / f"batch-{i:06d}.json", record)  # marks the batch done
                processed += len(batches[i])
                report(len(batches[i]))
                if crash_after and n + 1 >= crash_after:
                    os.kill(os.getpid(), signal.SIGKILL)
    finally:
        close()
    return processed


def _progress(progress: Progress | bool | None, total: int, initial: int) -> tuple[Callable[[int], None], Callable]:
    """``(advance(n), close())`` for a tqdm bar on stderr (``True``), a callback, or nothing."""
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=total, initial=initial, unit="file", desc="embedding photos", file=sys.stderr,
                   dynamic_ncols=True)
        return bar.update, bar.close
    if callable(progress):
        state = {"done": initial}

        def advance(n: int) -> None:
            state["done"] += n
            progress(state["done"], total)

        return advance, lambda: None
    return (lambda n: None), (lambda: None)


def _write_json(path: Path, data: Any) -> None:
    atomic_write(path, lambda fh: fh.write(json.dumps(data, ensure_ascii=False).encode("utf-8")))
