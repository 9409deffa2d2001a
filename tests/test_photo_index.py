"""Photo-collection search (mmbench.photos, mmbench.ann): build a folder index with the offline tiny
CLIP (unreadable files skipped and reported), text and image search, kill -9 mid-build and resume
to the identical index, add/remove, concurrent searches, the on-disk IVF-PQ path (recall against
exact search, memory-mapped), typed errors, the CLI; the 1M-vector benchmark is a slow test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from mmbench.ann import DiskIndex, exact_topk
from mmbench.data.world import World
from mmbench.errors import InvalidInputError, SearchIndexError
from mmbench.photos import PhotoIndex
from mmbench.photos.build import CRASH_AFTER_ENV

pytestmark = pytest.mark.usefixtures("one_thread")

MODEL = "mmbench-tiny-clip"
N_RED_CIRCLES = 10
FORMATS = ("png", "jpg", "webp", "bmp", "gif")


def _scenes() -> tuple[list[np.ndarray], list[str]]:
    """10 red circles and 50 other single-object scenes (no red circle), with their labels."""
    red = World(seed=21, shapes=("circle",), colours=("red",), n_objects=1).scenes(N_RED_CIRCLES)
    others = [s for s in World(seed=22, n_objects=1).scenes(80) if s.labels != ["red circle"]][:50]
    return [s.image for s in red + others], [s.labels[0] for s in red + others]


@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """60 procedural scenes in nested folders and five formats, plus a corrupt JPEG, a zero-byte
    PNG, a text file and a hidden image (the last two are not photos)."""
    root = tmp_path_factory.mktemp("photos")
    labels = {}
    for i, (image, label) in enumerate(zip(*_scenes())):
        folder = root / ("trip" if i % 3 == 0 else "home/2024" if i % 3 == 1 else "")
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"img{i:03d}.{FORMATS[i % len(FORMATS)]}"
        Image.fromarray(image).save(path, quality=95) if path.suffix == ".jpg" else Image.fromarray(image).save(path)
        labels[str(path)] = label
    (root / "trip" / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0" + b"\x00" * 40)
    (root / "empty.png").write_bytes(b"")
    (root / "notes.txt").write_text("not a photo")
    Image.fromarray(_scenes()[0][0]).save(root / ".hidden.png")
    return root, labels


@pytest.fixture(scope="module")
def built(photo_folder, tiny_pipe, tmp_path_factory):
    root, _ = photo_folder
    out = tmp_path_factory.mktemp("index") / "photos.index"
    seen = []
    report = PhotoIndex.build(root, out, batch_size=8, pipe=tiny_pipe, progress=lambda d, t: seen.append((d, t)))
    return report, out, seen


def test_build_indexes_every_photo_and_reports_unreadable_files(photo_folder, built):
    root, labels = photo_folder
    report, out, seen = built
    assert (report.files_found, report.indexed, report.batches) == (62, 60, 8)
    assert sorted(Path(s["path"]).name for s in report.skipped) == ["broken.jpg", "empty.png"]
    assert all(s["reason"] for s in report.skipped) and "empty" in str(report.skipped)
    assert report.as_dict()["skipped_count"] == 2 and report.files_per_second > 0 and report.model == MODEL
    assert seen[-1] == (62, 62) and [d for d, _ in seen] == sorted(d for d, _ in seen)
    index = PhotoIndex.open(out)
    assert len(index) == 60 and sorted(index.paths) == sorted(labels)
    assert index.info()["search"] == "exact" and index.info()["memory_mapped"]
    assert not (out / ".build").exists()


def test_text_search_ranks_matching_photos_first(photo_folder, built, tiny_pipe):
    _, labels = photo_folder
    index = PhotoIndex.open(built[1], pipe=tiny_pipe)
    hits = index.search_text("a red circle", k=N_RED_CIRCLES)
    precision = np.mean([labels[h["path"]] == "red circle" for h in hits])
    assert precision >= 0.8, [labels[h["path"]] for h in hits]
    assert [h["rank"] for h in hits] == list(range(1, N_RED_CIRCLES + 1))
    assert all(a["score"] >= b["score"] for a, b in zip(hits, hits[1:]))
    # Image search: a photo finds itself first (cosine 1).
    first = next(p for p, label in labels.items() if label == "red circle")
    top = index.search_image(first, k=3)[0]
    assert top["path"] == first and top["score"] == pytest.approx(1.0, abs=1e-4)


def test_kill_9_mid_build_then_resume_gives_the_identical_index(photo_folder, built, tmp_path):
    """The build process SIGKILLs itself after saving 3 batches (a deterministic kill -9); the rerun
    reuses those batches and ends with the same paths and bit-identical vectors."""
    root, _ = photo_folder
    out = tmp_path / "resumed.index"
    command = [sys.executable, "-m", "mmbench.cli", "index", "build", str(root), "--out", str(out),
               "--model", MODEL, "--batch-size", "8", "--quiet"]
    env = {**os.environ, "MMBENCH_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    killed = subprocess.run(command, env={**env, CRASH_AFTER_ENV: "3"}, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, killed.stderr[-2000:]
    assert not (out / "photos.json").exists()
    assert sorted(p.name for p in (out / ".build").glob("batch-*.json")) == [f"batch-{i:06d}.json" for i in range(3)]
    resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    report = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert report["resumed_batches"] == 3 and report["files_processed"] == 62 - 3 * 8 and report["indexed"] == 60
    assert report["skipped_count"] == 2
    reference, again = PhotoIndex.open(built[1]), PhotoIndex.open(out)
    assert again.paths == reference.paths
    a, b = DiskIndex.open(built[1] / "vectors"), DiskIndex.open(out / "vectors")
    np.testing.assert_array_equal(a.vectors(np.arange(a.ntotal)), b.vectors(np.arange(b.ntotal)))


def test_add_and_remove_by_path(photo_folder, built, tiny_pipe, tmp_path):
    root, labels = photo_folder
    copy = tmp_path / "copy.index"
    shutil.copytree(built[1], copy)
    index = PhotoIndex.open(copy, pipe=tiny_pipe)
    red = [p for p, label in labels.items() if label == "red circle"]
    report = index.remove(red[:6] + [str(root / "never-indexed.png")])
    assert len(report["removed"]) == 6 and report["not_found"] == [str(root / "never-indexed.png")]
    assert len(index) == 54 and red[0] not in index
    assert not {h["path"] for h in index.search_text("a red circle", k=54)} & set(red[:6])

    extra = tmp_path / "new photos"  # outside the photo root: stored by absolute path
    extra.mkdir()
    new = World(seed=99, shapes=("circle",), colours=("red",), n_objects=1).scenes(3)
    for i, scene in enumerate(new):
        scene.to_pil().save(extra / f"new{i}.png")
    (extra / "bad.png").write_bytes(b"\x89PNG broken")
    report = index.add([extra, red[6], red[0]])  # a folder, an indexed photo, a removed one
    assert sorted(Path(p).name for p in report["added"]) == sorted(["new0.png", "new1.png", "new2.png",
                                                                    Path(red[0]).name])
    assert report["already_indexed"] == [red[6]] and [Path(s["path"]).name for s in report["skipped"]] == ["bad.png"]
    assert len(index) == 58 and str(extra / "new0.png") in index

    reopened = PhotoIndex.open(copy, pipe=tiny_pipe)  # the changes are on disk
    assert len(reopened) == 58 and red[1] not in reopened and red[0] in reopened
    top = {h["path"] for h in reopened.search_text("a red circle", k=8)}
    assert len(top & ({str(extra / f"new{i}.png") for i in range(3)} | set(red[6:]) | {red[0]})) >= 6
    assert not top & set(red[1:6])


def test_searches_run_while_photos_are_removed(photo_folder, built, tiny_pipe, tmp_path):
    _, labels = photo_folder
    copy = tmp_path / "busy.index"
    shutil.copytree(built[1], copy)
    index = PhotoIndex.open(copy, pipe=tiny_pipe)
    query = tiny_pipe.embed_texts(["a red circle"])
    gone = [p for p, label in labels.items() if label == "red circle"]
    errors, removed = [], threading.Event()

    def search() -> None:
        try:
            for _ in range(30):
                done = removed.is_set()
                paths = {h["path"] for h in index.search_vectors(query, k=20)[0]}
                if done and paths & set(gone):
                    errors.append("a removed photo was returned")
        except Exception as err:  # pragma: no cover - the assertion below reports it
            errors.append(repr(err))

    threads = [threading.Thread(target=search) for _ in range(4)]
    for t in threads:
        t.start()
    for path in gone:
        index.remove([path])
    removed.set()
    for t in threads:
        t.join()
    assert not errors and len(index) == 50


def test_ivfpq_on_20k_vectors_reaches_recall_and_is_memory_mapped(tmp_path, monkeypatch):
    from mmbench.ann import index as ann_index
    from mmbench.benchmarks.retrieval import make_clustered_gallery

    gallery, queries, _ = make_clustered_gallery(20_000, 128, 456, seed=3)
    built = DiskIndex.create(tmp_path / "ivf", gallery, kind="ivfpq", calibration_queries=queries[200:])
    assert built.kind == "ivfpq" and built.settings["recall"] >= 0.95
    index = DiskIndex.open(tmp_path / "ivf")
    assert index.memory_mapped and index.description == built.description
    truth = exact_topk(gallery, queries[:200], 10)[1]
    scores, found = index.search(queries[:200], 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found.tolist(), truth.tolist())])
    assert recall >= 0.95
    np.testing.assert_allclose(scores, np.einsum("qd,qkd->qk", queries[:200], gallery[found]), atol=1e-5)

    # Removed rows never come back; added rows are searched exactly, then folded into the IVF-PQ lists.
    index.remove(found[:, 0])
    assert not set(found[:, 0]) & set(index.search(queries[:200], 10)[1].ravel())
    monkeypatch.setattr(ann_index, "MIN_DELTA", 100)
    ids = index.add(queries[:50])  # in the delta: searched exactly
    assert index.search(queries[:50], 1)[1][:, 0].tolist() == ids.tolist() and "+50 exact" in index.description
    index.add(gallery[50:2100])  # past the delta limit: folded into the IVF-PQ index
    assert "exact" not in index.description and index.ntotal == 22_100
    reopened = DiskIndex.open(tmp_path / "ivf")
    assert len(reopened) == 22_100 - len(set(found[:, 0])) and reopened.memory_mapped
    assert reopened.search(queries[:50], 1)[1][:, 0].tolist() == ids.tolist()


def test_disk_benchmark_serves_from_a_fresh_process():
    from mmbench.benchmarks.retrieval import run

    data = run(n_items=20_000, dim=64, queries=50, disk=True)
    assert data["mode"] == "disk" and data["ivf_mmapped"] and data["recall_at_10"] >= 0.95
    assert 0 < data["search_rss_mb"] < 1500 and data["ms_per_query"] < 50


def test_bad_inputs_are_typed_errors(photo_folder, built, tmp_path, tiny_pipe):
    root, _ = photo_folder
    with pytest.raises(InvalidInputError, match="does not exist"):
        PhotoIndex.build(tmp_path / "missing", tmp_path / "x", pipe=tiny_pipe)
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "a.txt").write_text("hello")
    with pytest.raises(InvalidInputError, match="No image files") as info:
        PhotoIndex.build(tmp_path / "texts", tmp_path / "x", pipe=tiny_pipe)
    assert info.value.hint
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"junk")
    with pytest.raises(InvalidInputError, match="could be read"):
        PhotoIndex.build(tmp_path / "junk", tmp_path / "y", pipe=tiny_pipe)
    with pytest.raises(SearchIndexError, match="already holds"):
        PhotoIndex.build(root, built[1], pipe=tiny_pipe)
    for not_an_index in (tmp_path / "nowhere", root, root / "empty.png"):
        with pytest.raises(SearchIndexError) as info:
            PhotoIndex.open(not_an_index)
        assert info.value.hint
    with pytest.raises(SearchIndexError):
        DiskIndex.open(root)
    index = PhotoIndex.open(built[1], pipe=tiny_pipe)
    for k in (0, -1, 2.5, True):
        with pytest.raises(InvalidInputError):
            index.search_text("a red circle", k=k)
    with pytest.raises(SearchIndexError, match="dimensions"):
        index.search_vectors(np.ones((1, 7), dtype=np.float32))
    with pytest.raises(InvalidInputError):
        index.search_text("   ")

    class OtherModel:  # a pipeline of another model
        spec = type("Spec", (), {"name": "other-clip"})()
        embed_dim = 512

    with pytest.raises(SearchIndexError, match="built with"):
        PhotoIndex.open(built[1], pipe=OtherModel())
    vectors = DiskIndex.open(built[1] / "vectors")
    with pytest.raises(SearchIndexError):
        vectors.add(np.ones((2, 3), dtype=np.float32))
    broken = tmp_path / "broken.index"
    shutil.copytree(built[1], broken)
    (broken / "vectors" / "index.json").write_text("{ not json")
    with pytest.raises(SearchIndexError, match="damaged"):
        PhotoIndex.open(broken)


def test_cli_search_and_info(built, tiny_pipe, capsys, monkeypatch):
    from mmbench.cli import main

    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    assert main(["index", "search", str(built[1]), "a red circle", "-k", "3"]) == 0
    data = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert data["model"] == MODEL and len(data["results"]) == 3 and data["results"][0]["rank"] == 1
    assert main(["index", "info", str(built[1])]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["photos"] == 60
    assert main(["index", "search", str(built[1] / "nope"), "x"]) == 1
    assert "No photo index" in capsys.readouterr().err


def test_matching_tab_searches_the_configured_index(photo_folder, built, tiny_pipe, monkeypatch):
    from mmbench.photos import configured_index, search_configured
    from mmbench.ui import matching_tab

    _, labels = photo_folder
    monkeypatch.delenv("MMBENCH_INDEX", raising=False)
    assert configured_index() is None and matching_tab._photo_index_choice() == []
    with pytest.raises(SearchIndexError, match="No photo index"):
        search_configured("a red circle")
    monkeypatch.setenv("MMBENCH_INDEX", str(built[1]))
    assert configured_index() is configured_index()  # opened once, shared
    assert matching_tab._photo_index_choice()[0][1] == matching_tab.PHOTO_INDEX
    items, table, _, status = matching_tab.search(None, "a red circle", matching_tab.PHOTO_INDEX, 5, None, None,
                                                  progress=lambda *a, **k: None)
    assert len(items) == len(table) == 5 and MODEL in status
    assert items[0][0].size[0] <= 256 and "#1" in items[0][1]
    assert np.mean([labels[h["path"]] == "red circle" for h in table]) >= 0.8


@pytest.mark.slow
def test_bench_retrieval_one_million_vectors_on_disk():
    """The bar: 1M × 512 clustered vectors, on-disk IVF-PQ + exact re-rank, served by a fresh process."""
    proc = subprocess.run([sys.executable, "-m", "mmbench.cli", "bench", "retrieval", "--n-items", "1000000"],
                          capture_output=True, text=True, timeout=3600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    assert data["n_items"] == 1_000_000 and data["mode"] == "disk" and data["ivf_mmapped"]
    assert data["ms_per_query"] <= 5 and data["recall_at_10"] >= 0.95 and data["search_rss_mb"] <= 1500
