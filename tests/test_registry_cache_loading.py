"""Registry rows, the bounded model cache, the device policy and pipeline() resolution."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import replace

import pytest

import mmbench
from mmbench.cache import ModelCache
from mmbench.errors import InvalidInputError, ModelUnavailableError, UnknownModelError, UnknownTaskError
from mmbench.registry import ModelSpec, get_spec, list_models, register, tasks, unregister, with_options


# -- registry ---------------------------------------------------------------------------------
def test_every_row_is_complete():
    rows = list_models()
    assert len({r.name for r in rows}) == len(rows)
    for r in rows:
        assert r.tier in ("online", "offline")
        assert r.licence and r.backend and r.source and r.good_for, r.name
        assert r.status in ("ready", "planned")
        if r.status == "planned":
            assert r.issue, f"{r.name}: a planned row names its issue"


def test_each_ready_task_has_one_default_per_tier():
    for task in tasks():
        for tier in ("online", "offline"):
            defaults = [r for r in list_models(task, tier) if r.default]
            assert len(defaults) <= 1, (task, tier)
    assert get_spec("mmbench-tiny-clip").default and get_spec("openclip-vit-b-32").default


def test_offline_rows_include_package_checkpoints_and_own_models():
    offline = {r.name: r for r in list_models(tier="offline")}
    assert offline["mmbench-tiny-clip"].source.startswith("assets:")
    assert any(r.source.startswith("package:") for r in offline.values())
    assert any("unknown" in r.licence for r in offline.values())


def test_get_spec_accepts_dropdown_labels_and_explains_unknown_names():
    assert get_spec("mmbench-tiny-clip (offline)").name == "mmbench-tiny-clip"
    with pytest.raises(UnknownModelError) as err:
        get_spec("no-such-model", task="image-text-matching")
    assert "mmbench-tiny-clip" in str(err.value)
    with pytest.raises(UnknownModelError):
        get_spec("mmbench-tiny-clip", task="text-to-image")


def test_how_to_get_names_a_concrete_action():
    assert "pip install" in get_spec("whisper-tiny.en-ct2").how_to_get()
    assert "mmbench train tiny-clip" in get_spec("mmbench-tiny-clip").how_to_get()
    assert "HF_HUB_OFFLINE" in get_spec("openclip-vit-b-32").how_to_get()


# -- cache ------------------------------------------------------------------------------------
class _Blob:
    def __init__(self, n):
        self.n = n

    def nbytes(self):
        return self.n


def test_cache_is_lru_by_count():
    cache = ModelCache(max_items=2, max_bytes=10**9)
    for key in "abc":
        cache.get_or_load(key, lambda: _Blob(1))
    assert cache.keys() == ["b", "c"] and cache.evictions == 1
    cache.get_or_load("b", lambda: pytest.fail("b is cached"))
    cache.get_or_load("d", lambda: _Blob(1))
    assert cache.keys() == ["b", "d"]


def test_cache_is_bounded_by_memory_but_keeps_the_newest():
    cache = ModelCache(max_items=10, max_bytes=100)
    cache.get_or_load("a", lambda: _Blob(60))
    cache.get_or_load("b", lambda: _Blob(60))
    assert cache.keys() == ["b"]
    cache.get_or_load("huge", lambda: _Blob(500))  # larger than the bound: still served
    assert cache.keys() == ["huge"]


def test_concurrent_requests_load_a_model_once():
    cache = ModelCache(max_items=3, max_bytes=10**9)
    calls = []

    def loader():
        calls.append(1)
        time.sleep(0.2)
        return _Blob(1)

    threads = [threading.Thread(target=cache.get_or_load, args=("m", loader)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1


def test_cache_counts_torch_parameters():
    import torch

    cache = ModelCache(max_items=5, max_bytes=10**9)
    cache.get_or_load("lin", lambda: torch.nn.Linear(100, 10))
    assert cache.nbytes == (100 * 10 + 10) * 4


# -- device policy ----------------------------------------------------------------------------
def test_device_policy_on_cpu_machine(monkeypatch):
    import torch

    monkeypatch.delenv("MMBENCH_DEVICE", raising=False)
    if not torch.cuda.is_available():
        assert mmbench.resolve_device(None).type in ("cpu", "mps")
        with pytest.raises(InvalidInputError):
            mmbench.resolve_device("cuda")
    assert mmbench.resolve_dtype("cpu") == torch.float32
    assert mmbench.resolve_dtype("cpu", "bf16") == torch.bfloat16
    with pytest.raises(InvalidInputError):
        mmbench.resolve_device("quantum")


# -- pipeline() ---------------------------------------------------------------------------------
def test_unknown_and_planned_tasks_are_typed_errors():
    with pytest.raises(UnknownTaskError) as err:
        mmbench.pipeline("telepathy")
    assert "image-text-matching" in str(err.value)
    # a task that has registry rows but no pipeline yet (every shipped task is ready now)
    spec = register(ModelSpec(name="test-planned-row", task="smell-to-text", tier="online", backend="none",
                              source="hub:none/none", status="planned", issue=99))
    try:
        with pytest.raises(UnknownTaskError) as err:
            mmbench.pipeline("smell-to-text")
        assert "planned" in str(err.value)
    finally:
        unregister(spec.name)


def test_missing_offline_weights_name_the_model_and_how_to_get_them(tmp_path):
    spec = with_options(get_spec("mmbench-tiny-clip"), weights=str(tmp_path))
    with pytest.raises(ModelUnavailableError) as err:
        mmbench.pipeline("image-text-matching", model=spec, device="cpu", cache=False)
    msg = str(err.value)
    assert "mmbench-tiny-clip" in msg and "mmbench train tiny-clip" in msg


def test_online_failure_falls_back_visibly_or_raises_when_asked(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = mmbench.pipeline("image-text-matching", device="cpu")
    if pipe.spec.tier == "online":  # pragma: no cover - only with a populated HF cache
        pytest.skip("the online checkpoint is cached on this machine")
    assert pipe.spec.name == "mmbench-tiny-clip"
    assert "openclip-vit-b-32" in pipe.notice and "mmbench-tiny-clip" in pipe.notice
    assert pipe.notice in pipe.describe()
    with pytest.raises(ModelUnavailableError):
        mmbench.pipeline("image-text-matching", model="openclip-vit-b-32", device="cpu", fallback=False)


def test_switching_models_reuses_the_bounded_cache():
    from mmbench.loading import MODEL_CACHE

    a = mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")
    b = mmbench.pipeline("image-text-matching", model="mmbench-tiny-clip", device="cpu")
    assert a.backend is b.backend
    assert len(MODEL_CACHE) <= MODEL_CACHE.max_items


def test_random_weight_test_rows_are_labelled():
    spec = ModelSpec(name="test-tiny-clip-random", task="image-text-matching", tier="offline", backend="tiny_clip",
                     source="config", options={"config": {"vision_layers": 1, "text_layers": 1, "itm_layers": 1}})
    register(spec)
    try:
        pipe = mmbench.pipeline("image-text-matching", model="test-tiny-clip-random", device="cpu", cache=False)
        assert "random" in pipe.backend.note
    finally:
        unregister(spec.name)


def test_import_is_lazy_and_fast():
    code = ("import time, sys; t = time.perf_counter(); import mmbench; dt = time.perf_counter() - t; "
            "heavy = [m for m in ('torch', 'transformers', 'diffusers', 'open_clip', 'gradio') if m in sys.modules]; "
            "print(dt, heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split(" ", 1)
    assert float(out[0]) < 1.0
    assert out[1].strip() == "[]"


def test_a_missing_package_names_the_model_and_the_install(monkeypatch):
    from mmbench.backends import _hub
    from mmbench.errors import DependencyError

    monkeypatch.setitem(sys.modules, "diffusers", None)  # "import diffusers" now fails
    with pytest.raises(DependencyError) as err:
        _hub.require_package(get_spec("mmbench-tiny-diffusion"), "diffusers")
    assert "'mmbench-tiny-diffusion' needs the diffusers package" in str(err.value)
    assert "pip install diffusers" in str(err.value.hint)
    _hub.require_package(get_spec("mmbench-tiny-clip"), "json")  # present: no error
