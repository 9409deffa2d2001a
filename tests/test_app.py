"""The web app, called through its named API endpoints with gradio_client exactly as a user would.

The app runs in-process on a free port with ``MMBENCH_OFFLINE=1``, so the default (online) model
falls back to the offline tiny CLIP on every machine and the fallback notice is part of what is
tested. Behaviour checks use the real trained tiny CLIP on fresh procedural scenes.
"""

from __future__ import annotations

import logging
import os
import struct
import subprocess
import sys
import time
import urllib.request
import zlib
from pathlib import Path

import pytest
from gradio_client import Client, handle_file

from mmbench.data.world import World, shape_colour_classes
from mmbench.examples import upscale

REPO = Path(__file__).resolve().parent.parent
from conftest import free_port  # noqa: E402  (tests/ is on sys.path under pytest)

TINY = "mmbench-tiny-clip (offline)"
STARTUP_LIMIT_S = 10.0


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """Procedural scenes saved as upscaled PNGs (what a user would upload) and malformed files."""
    folder = tmp_path_factory.mktemp("media")
    world = World(seed=777)

    def save(scene, name):
        path = folder / f"{name}.png"
        upscale(scene.image).save(path)
        return str(path)

    pairs = [world.scene(i, n_objects=2) for i in range(2)]
    single = world.scene(10, n_objects=1)
    many = world.scenes(6, start=20)
    files = {
        "pairs": [(save(s, f"pair{i}"), s.caption) for i, s in enumerate(pairs)],
        "distractor": world.scene(5, n_objects=3).caption,
        "single": (save(single, "single"), single.labels[0]),
        "many": [(save(s, f"many{i}"), s.caption) for i, s in enumerate(many)],
    }
    corrupt = folder / "corrupt.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"definitely not image data " * 20)
    garbage = folder / "garbage.jpg"
    garbage.write_bytes(b"hello, I am a text file with a .jpg name\n" * 10)
    empty = folder / "empty.png"
    empty.write_bytes(b"")
    huge = folder / "huge.png"
    huge.write_bytes(_png_header_only(20000, 20000))
    files.update(corrupt=str(corrupt), garbage=str(garbage), empty=str(empty), huge=str(huge))
    return files


def _png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG whose IHDR claims ``width`` x ``height`` RGB pixels (a decompression-bomb probe)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def _gallery(paths):
    return [{"image": handle_file(p), "caption": None} for p in paths]


def similarity(client, image, gallery, texts, model=TINY):
    return client.predict(model, handle_file(image) if image else None, _gallery(gallery or []), texts,
                          api_name="/similarity")


# -- endpoints ----------------------------------------------------------------------------------
def test_named_endpoints_are_documented(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert {"/similarity", "/zero_shot", "/search", "/model_status"} <= set(named)


def test_default_model_falls_back_visibly(client):
    status = client.predict(None, api_name="/model_status")
    assert "mmbench-tiny-clip" in status and "offline tier" in status
    assert "Fallback" in status and "openclip-vit-b-32" in status  # the notice says what happened
    assert "only knows" in status  # and what the tiny model can do


def test_text_to_image_model_status_answers_for_the_one_size_offline_model(client):
    """Issue 14: the 32-pixel offline model's status event set the size slider to minimum == maximum,
    which Gradio refuses, so the call failed with Gradio's generic error instead of the status."""
    status, steps, guidance, size = client.predict(None, api_name="/t2i_model_status")
    assert "mmbench-tiny-diffusion" in status and "Fallback" in status and "sd-turbo" in status
    assert "32×32 images only" in status  # the size slider is hidden: the status says the size
    assert steps["value"] == 10 and steps["minimum"] < steps["maximum"] == 200
    assert guidance["value"] == 3.0 and guidance["minimum"] <= 3.0 <= guidance["maximum"]
    assert size["value"] == 32 and size["minimum"] == 32 < size["maximum"] and size["visible"] is False


def test_similarity_picks_each_images_true_caption(client, media):
    (img0, cap0), (img1, cap1) = media["pairs"]
    texts = [media["distractor"], cap1, cap0]
    plot, table, status = similarity(client, img0, [img1], "\n".join(texts))
    assert plot["type"] == "matplotlib" and plot["plot"].startswith("data:image/png;base64,")
    assert table["texts"] == texts and len(table["images"]) == 2
    sim = table["similarity"]
    assert len(sim) == 2 and all(len(row) == 3 for row in sim)
    assert max(range(3), key=lambda j: sim[0][j]) == 2  # image 0 <-> cap0
    assert max(range(3), key=lambda j: sim[1][j]) == 1  # image 1 <-> cap1
    assert table["best_text"] == [cap0, cap1]
    assert all(abs(sum(row) - 1) < 1e-3 for row in table["probabilities"])
    assert "mmbench-tiny-clip" in status


def test_zero_shot_picks_the_true_class_among_36(client, media):
    path, label = media["single"]
    classes = shape_colour_classes()
    plot, scores, _ = client.predict(TINY, handle_file(path), "\n".join(classes), "a photo of a {}.",
                                     api_name="/zero_shot")
    assert plot["type"] == "matplotlib"
    assert set(scores) == set(classes)
    assert next(iter(scores)) == label  # sorted best first
    assert max(scores, key=scores.get) == label
    assert abs(sum(scores.values()) - 1) < 1e-2


def test_search_builtin_gallery_returns_the_described_scene_first(client):
    from mmbench.examples import procedural_gallery
    from mmbench.ui.matching_tab import BUILTIN_GALLERY_SIZE

    _, captions = procedural_gallery(BUILTIN_GALLERY_SIZE)
    unique = [c for c in captions if captions.count(c) == 1 and " of " in c]
    query = unique[0]
    items, hits, _ = client.predict(TINY, query, "built-in", 5, [], api_name="/search")
    assert len(items) == len(hits) == 5
    assert hits[0]["caption"] == query and hits[0]["scene"] == captions.index(query)
    assert [h["rank"] for h in hits] == [1, 2, 3, 4, 5]
    assert query in items[0]["caption"] and Path(items[0]["image"]).exists()


def test_search_uploaded_gallery(client, media):
    paths = [p for p, _ in media["many"]]
    target = 3
    query = media["many"][target][1]
    items, hits, _ = client.predict(TINY, query, "uploaded", 3, _gallery(paths), api_name="/search")
    assert len(hits) == 3
    assert hits[0]["image"] == Path(paths[target]).name
    # a second query reuses this session's embedded gallery (gr.State)
    other = media["many"][1][1]
    _, hits, _ = client.predict(TINY, other, "uploaded", 2, _gallery(paths), api_name="/search")
    assert hits[0]["image"] == Path(paths[1]).name


# -- bad inputs: a clear message each, and the app keeps serving --------------------------------
@pytest.mark.parametrize("kind, message", [
    ("corrupt", "damaged and cannot be read"),
    ("garbage", "not a recognised image file"),
    ("empty", "is empty (0 bytes)"),
    ("huge", "too large (400 megapixels)"),
])
def test_bad_image_files_get_clear_errors(client, media, kind, message):
    with pytest.raises(Exception, match=r"(?s)" + message.replace("(", r"\(").replace(")", r"\)")):
        similarity(client, media[kind], [], "a red circle")
    # the app still serves
    _, table, _ = similarity(client, media["single"][0], [], "a red circle")
    assert len(table["similarity"]) == 1


def test_bad_image_in_gallery_is_named(client, media):
    with pytest.raises(Exception, match="Image 2 \\(corrupt.png\\)"):
        similarity(client, None, [media["single"][0], media["corrupt"]], "a red circle")


@pytest.mark.parametrize("texts, message", [
    ("", "Enter at least one text"),
    ("   \n\n  ", "Enter at least one text"),
    ("x" * 10_000, "10000 characters long; the limit is 1000"),
])
def test_bad_texts_get_clear_errors(client, media, texts, message):
    with pytest.raises(Exception, match=message):
        similarity(client, media["single"][0], [], texts)
    _, table, _ = similarity(client, media["single"][0], [], "a red circle")
    assert table["texts"] == ["a red circle"]


def test_missing_inputs_get_clear_errors(client, media):
    with pytest.raises(Exception, match="No images yet"):
        similarity(client, None, [], "a red circle")
    with pytest.raises(Exception, match="No image to classify"):
        client.predict(TINY, None, "red circle", "a photo of a {}.", api_name="/zero_shot")
    with pytest.raises(Exception, match="placeholder"):
        client.predict(TINY, handle_file(media["single"][0]), "red circle", "a photo", api_name="/zero_shot")
    with pytest.raises(Exception, match="uploaded gallery is empty"):
        client.predict(TINY, "a red circle", "uploaded", 3, [], api_name="/search")
    with pytest.raises(Exception, match="query is empty"):
        client.predict(TINY, "  ", "built-in", 3, [], api_name="/search")


def test_unexpected_errors_are_logged_not_shown(caplog):
    import gradio as gr

    from mmbench.errors import TextError
    from mmbench.ui.common import user_errors

    with caplog.at_level(logging.ERROR, logger="mmbench.ui"):
        with pytest.raises(gr.Error) as info:
            with user_errors("testing the error path"):
                raise KeyError("internal detail")
    assert str(info.value.message) == "Something went wrong while testing the error path (details in the server log)."
    assert "internal detail" not in info.value.message
    assert "KeyError" in caplog.text and "internal detail" in caplog.text  # traceback server-side
    with pytest.raises(gr.Error, match="The text is empty. Type a word."):
        with user_errors("x"):
            raise TextError("The text is empty.", hint="Type a word.")


# -- start-up -----------------------------------------------------------------------------------
def test_python_app_py_serves_within_10_seconds():
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("PORT", None)
    start = time.monotonic()
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = None
    try:
        while time.monotonic() - start < STARTUP_LIMIT_S + 20:  # wait a bit longer to report the real time
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1) as response:
                    if response.status == 200:
                        elapsed = time.monotonic() - start
                        break
            except OSError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
    assert elapsed is not None, "app.py never answered"
    print(f"\npython app.py served its first HTTP 200 after {elapsed:.2f} s")
    assert elapsed < STARTUP_LIMIT_S, f"first response after {elapsed:.1f} s"


def test_building_the_app_loads_no_model():
    code = ("import sys; from mmbench.ui.app import build_app; build_app(); "
            "heavy = [m for m in ('torch', 'open_clip', 'transformers', 'matplotlib') if m in sys.modules]; "
            "print(heavy); sys.exit(1 if heavy else 0)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr


def test_a_stop_cancels_only_that_sessions_run_and_old_sessions_drop_out():
    from types import SimpleNamespace

    from mmbench.ui.common import SessionCancels

    cancels = SessionCancels(max_sessions=2)
    alice, bob, carol = (SimpleNamespace(session_hash=h) for h in ("alice", "bob", "carol"))
    a, b = cancels.new(alice), cancels.new(bob)
    assert cancels.stop(alice) == "Stopped." and a.is_set() and not b.is_set()
    a2 = cancels.new(alice)  # a new run gets a fresh event
    assert not a2.is_set()
    cancels.new(carol)  # bob is now the oldest of three: dropped
    assert cancels.stop(bob) == "Nothing to stop." and not b.is_set()
    assert cancels.stop(None) == "Nothing to stop."  # no request (called from Python)
