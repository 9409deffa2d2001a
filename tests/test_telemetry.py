"""Prometheus metrics (``mmbench.telemetry``, ``/metrics``): counters move by exactly the requests
made, errors are counted by type, the model cache's loads/hits/evictions are reported as they happen,
and a real Prometheus server (Debian package ``prometheus``) scraping ``python app.py`` answers a
PromQL query with the number of requests sent.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import gradio as gr
import pytest

from mmbench import telemetry
from mmbench.cache import ModelCache
from mmbench.errors import ImageError, TextError
from mmbench.telemetry import Telemetry, track_request

REPO = Path(__file__).resolve().parent.parent
from conftest import free_port  # noqa: E402  (tests/ is on sys.path under pytest)

TINY = "mmbench-tiny-clip (offline)"
MATCHING = "image-text-matching"
SIMILARITY = "computing the similarity matrix"


# -- unit: the metrics themselves ----------------------------------------------------------------
def test_requests_errors_and_latency_move_by_exactly_the_requests_made():
    t = Telemetry()
    labels = {"task": MATCHING, "model": "mmbench-tiny-clip", "tier": "offline"}
    for _ in range(3):
        with track_request("embedding", telemetry=t) as request:
            assert t.value("mmbench_requests_in_progress") == 1
            telemetry.set_labels(**labels)
            assert telemetry.current_request() is request
    for _ in range(2):
        with pytest.raises(ImageError), track_request("embedding", telemetry=t):
            telemetry.set_labels(**labels)
            raise ImageError("not an image")
    with pytest.raises(ZeroDivisionError), track_request("plotting", telemetry=t):
        1 / 0  # noqa: B018  (no model: labels stay "none")
    assert telemetry.current_request() is None
    assert t.value("mmbench_requests_in_progress") == 0
    assert t.value("mmbench_requests_total", {**labels, "action": "embedding"}) == 5
    assert t.value("mmbench_requests_total") == 6
    assert t.value("mmbench_requests_total", {"task": "none", "model": "none", "tier": "none",
                                               "action": "plotting"}) == 1
    assert t.value("mmbench_request_errors_total", {**labels, "error_type": "ImageError"}) == 2
    assert t.value("mmbench_request_errors_total", {"action": "plotting",
                                                    "error_type": telemetry.UNEXPECTED_ERROR}) == 1
    assert t.value("mmbench_request_errors_total") == 3
    assert t.value("mmbench_request_duration_seconds_count", {**labels, "action": "embedding"}) == 5
    assert t.value("mmbench_request_duration_seconds_count") == 6


def test_a_nested_block_is_part_of_the_outer_request():
    t = Telemetry()
    with track_request("outer", telemetry=t) as outer:
        with track_request("inner", telemetry=t) as inner:
            telemetry.set_labels(task="video-classification")
        assert inner is outer
    assert t.value("mmbench_requests_total") == 1
    assert t.value("mmbench_requests_total", {"action": "outer", "task": "video-classification"}) == 1


def test_latency_lands_in_the_right_bucket():
    t = Telemetry()
    with track_request("sleep", telemetry=t):
        time.sleep(0.06)
    assert t.value("mmbench_request_duration_seconds_bucket", {"le": "0.05"}) == 0
    assert t.value("mmbench_request_duration_seconds_bucket", {"le": "0.1"}) == 1
    assert 0.06 <= t.value("mmbench_request_duration_seconds_sum") < 0.1 + 0.5


def test_cache_loads_hits_and_evictions_move_as_the_cache_does():
    t = Telemetry()
    cache = ModelCache(max_items=2, max_bytes=10**12)
    t.watch_cache(cache, "test")

    def value(name):
        return t.value(name, {"cache": "test"})

    cache.get_or_load("a", lambda: "model a")
    cache.get_or_load("a", lambda: pytest.fail("a is cached"))
    assert (value("mmbench_model_cache_loads_total"), value("mmbench_model_cache_hits_total")) == (1, 1)
    cache.get_or_load("b", lambda: "model b")
    cache.get_or_load("c", lambda: "model c")  # evicts a (least recently used)
    assert value("mmbench_model_cache_loads_total") == 3
    assert value("mmbench_model_cache_hits_total") == 1
    assert value("mmbench_model_cache_evictions_total") == 1
    assert value("mmbench_model_cache_models") == 2
    cache.get_or_load("a", lambda: "model a again")
    assert value("mmbench_model_cache_loads_total") == 4 and value("mmbench_model_cache_evictions_total") == 2


def test_the_process_wide_metrics_watch_the_model_cache_and_use_their_own_registry():
    from prometheus_client import REGISTRY

    from mmbench.loading import MODEL_CACHE

    assert telemetry.metrics() is telemetry.metrics()
    assert telemetry.metrics().caches["models"] is MODEL_CACHE
    assert telemetry.metrics().registry is not REGISTRY
    assert not [m for m in REGISTRY.collect() if m.name.startswith("mmbench")]


def test_exposition_is_the_prometheus_text_format():
    from prometheus_client.parser import text_string_to_metric_families

    t = Telemetry()
    t.watch_queue(lambda: 7, "app")
    with track_request("x", telemetry=t):
        telemetry.set_labels(task=MATCHING, model="m", tier="offline")
    body, content_type = t.exposition()
    assert content_type.startswith("text/plain; version=")
    families = {f.name: f for f in text_string_to_metric_families(body.decode())}
    assert {"mmbench_requests", "mmbench_request_duration_seconds", "mmbench_requests_in_progress",
            "mmbench_queue_depth", "mmbench_model_cache_loads"} <= set(families)
    [sample] = [s for s in families["mmbench_requests"].samples if s.name == "mmbench_requests_total"]
    assert sample.value == 1 and sample.labels == {"task": MATCHING, "model": "m", "tier": "offline", "action": "x"}
    assert families["mmbench_queue_depth"].samples[0].value == 7


def test_gpu_memory_is_reported_only_on_cuda():
    import torch

    gpu = telemetry.gpu_memory()
    if not torch.cuda.is_available():
        assert gpu == {}
        assert b"mmbench_gpu_memory_bytes" not in Telemetry().exposition()[0]
        return
    x = torch.empty(64 * 2**20, dtype=torch.uint8, device="cuda:0")
    t = Telemetry()
    assert t.value("mmbench_gpu_memory_bytes", {"device": "cuda:0", "kind": "allocated"}) >= x.numel()
    assert t.value("mmbench_gpu_memory_bytes", {"device": "cuda:0", "kind": "reserved"}) >= x.numel()


# -- the instrumented UI path (ui/common.py) -----------------------------------------------------
def test_every_ui_action_is_counted_once_with_its_model_and_errors_by_type(monkeypatch):
    monkeypatch.setenv("MMBENCH_OFFLINE", "1")
    from mmbench.ui import common

    m = telemetry.metrics()
    ok = {"task": MATCHING, "model": "mmbench-tiny-clip", "tier": "offline", "action": "telemetry test"}
    before = {k: m.value(k, ok) for k in ("mmbench_requests_total", "mmbench_request_duration_seconds_count")}
    before_errors = {e: m.value("mmbench_request_errors_total", {"action": "telemetry test", "error_type": e})
                     for e in ("TextError", "UserError", "UnexpectedError", "UnknownModelError")}
    before_all = m.value("mmbench_requests_total", {"action": "telemetry test"})

    for _ in range(2):
        with common.user_errors("telemetry test"):
            with common.user_errors("a helper's own block"):  # nested: not a second request
                common.load_pipeline(MATCHING, TINY)
    with pytest.raises(gr.Error, match="empty"), common.user_errors("telemetry test"):
        raise TextError("The text is empty.")
    with pytest.raises(gr.Error, match="Type something"), common.user_errors("telemetry test"):
        raise common.user_error("Type something.")
    with pytest.raises(gr.Error, match="Something went wrong"), common.user_errors("telemetry test"):
        raise RuntimeError("a bug")
    with pytest.raises(gr.Error, match="Unknown model"), common.user_errors("telemetry test"):
        common.load_pipeline(MATCHING, "no-such-model")

    assert m.value("mmbench_requests_total", ok) == before["mmbench_requests_total"] + 2
    assert m.value("mmbench_request_duration_seconds_count", ok) == before["mmbench_request_duration_seconds_count"] + 2
    assert m.value("mmbench_requests_total", {"action": "telemetry test"}) == before_all + 6
    assert m.value("mmbench_requests_total", {"action": "a helper's own block"}) == 0
    for error in before_errors:
        got = m.value("mmbench_request_errors_total", {"action": "telemetry test", "error_type": error})
        assert got == before_errors[error] + 1, error
    # a model name nobody registered is not a new label value
    assert m.value("mmbench_request_errors_total", {"task": MATCHING, "model": "unknown",
                                                    "error_type": "UnknownModelError"}) >= 1
    assert m.value("mmbench_requests_total", {"model": "no-such-model"}) == 0


def test_metrics_route_serves_the_text_format():
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mmbench.ui.metrics_endpoint import add_metrics_route

    app = FastAPI()
    add_metrics_route(app)
    add_metrics_route(app)  # idempotent
    assert [r.path for r in app.routes].count("/metrics") == 1
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert "# TYPE mmbench_requests_total counter" in response.text


# -- a real Prometheus server scraping python app.py ---------------------------------------------
def _get(url: str, timeout: float = 2.0) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read()


def _wait_for(url: str, proc: subprocess.Popen, what: str, limit_s: float) -> None:
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}: {proc.stderr.read().decode()[-2000:]}")
        try:
            _get(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{what} did not answer {url} within {limit_s:.0f} s")


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:  # pragma: no cover
        proc.kill()
        proc.wait()


def _query(prometheus: str, promql: str) -> list:
    body = _get(f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    answer = json.loads(body)
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def _scalar(prometheus: str, promql: str) -> float | None:
    result = _query(prometheus, promql)
    return float(result[0]["value"][1]) if result else None


@pytest.mark.timeout(120)
def test_a_real_prometheus_server_counts_the_requests_sent(tmp_path):
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the Prometheus server is not installed (Debian package 'prometheus': apt-get install prometheus)")
    from gradio_client import Client, handle_file
    from PIL import Image

    app_port, prom_port = free_port(), free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(app_port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "MMBENCH_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("PORT", None)
    app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: mmbench\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{app_port}']\n")
    prometheus = f"http://127.0.0.1:{prom_port}"
    prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{prom_port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(f"http://127.0.0.1:{app_port}/metrics", app, "python app.py", 30)
        _wait_for(f"{prometheus}/-/ready", prom, "prometheus", 20)

        image = tmp_path / "red.png"
        Image.new("RGB", (64, 64), (220, 30, 30)).save(image)
        client = Client(f"http://127.0.0.1:{app_port}/", verbose=False)
        n = 5
        for i in range(n):
            _, table, _ = client.predict(TINY, handle_file(str(image)), [], f"a red circle\nshape {i}",
                                         api_name="/similarity")
            assert table["model"] == "mmbench-tiny-clip"
        with pytest.raises(Exception, match="Enter at least one text"):
            client.predict(TINY, handle_file(str(image)), [], "", api_name="/similarity")
        done = time.time()

        # wait for a scrape that started after the last request
        deadline = time.monotonic() + 20
        while True:
            last = _scalar(prometheus, 'max(timestamp(up{job="mmbench"}))')
            if last is not None and last > done + 0.1:
                break
            assert time.monotonic() < deadline, f"Prometheus did not scrape after the requests (last {last})"
            time.sleep(0.3)
        assert _scalar(prometheus, 'up{job="mmbench"}') == 1
        requests = _scalar(prometheus, f'sum(mmbench_requests_total{{task="{MATCHING}"}})')
        assert requests == n, f"Prometheus counts {requests} {MATCHING} requests, {n} were sent"
        labelled = _query(prometheus, f'mmbench_requests_total{{task="{MATCHING}"}}')
        assert [r["metric"]["model"] for r in labelled] == ["mmbench-tiny-clip"]
        assert [r["metric"]["tier"] for r in labelled] == ["offline"]
        assert _scalar(prometheus, f'sum(mmbench_requests_total{{action="{SIMILARITY}"}})') == n + 1
        errors = _scalar(prometheus, f'sum(mmbench_request_errors_total{{action="{SIMILARITY}"}}) by (error_type)')
        assert errors == 1
        assert _query(prometheus, "mmbench_request_errors_total")[0]["metric"]["error_type"] == "TextError"
        latency = f'sum(mmbench_request_duration_seconds_count{{task="{MATCHING}"}})'
        assert _scalar(prometheus, latency) == n
        assert _scalar(prometheus, 'mmbench_model_cache_loads_total{cache="models"}') == 1
        assert _scalar(prometheus, 'mmbench_model_cache_hits_total{cache="models"}') == n - 1
        assert _scalar(prometheus, "sum(mmbench_requests_in_progress)") == 0
        assert _scalar(prometheus, 'mmbench_queue_depth{queue="app"}') == 0
    finally:
        _stop(prom)
        _stop(app)
