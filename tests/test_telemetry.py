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
from contextlib import contextmanager
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


# -- the drift monitor's gauges --------------------------------------------------------------------
class _Clock:
    def __init__(self):
        self.now = 1_700_000_000.0

    def __call__(self):
        self.now += 10.0
        return self.now


def _drift_samples(text: str, monitor: str) -> dict[str, float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples
            if s.name.startswith("mmbench_drift") and s.labels.get("monitor") == monitor}


def test_a_named_drift_monitor_is_served_at_metrics_alert_p_value_and_start_time():
    import gc

    import numpy as np
    from fastapi import FastAPI
    from fastapi.testclient import TestClient

    from mmbench.monitor import DriftMonitor, KSDetector
    from mmbench.ui.metrics_endpoint import add_metrics_route

    app = FastAPI()
    add_metrics_route(app)
    client = TestClient(app)
    rng = np.random.default_rng(0)
    clock = _Clock()
    monitor = DriftMonitor(KSDetector(n_components=4).fit(rng.normal(size=(800, 4))), window_size=100, clock=clock,
                           name="test-images")
    before = _drift_samples(client.get("/metrics").text, "test-images")
    assert before["mmbench_drift_alert"] == 0 and before["mmbench_drift_windows_total"] == 0
    assert before["mmbench_drift_started_timestamp_seconds"] == 0 and before["mmbench_drift_alpha"] == 0.01
    assert "mmbench_drift_p_value" not in before  # no window tested yet: no p-value sample

    monitor.update(rng.normal(size=(300, 4)))
    calm = _drift_samples(client.get("/metrics").text, "test-images")
    last = monitor.history[-1].result
    assert calm["mmbench_drift_alert"] == 0 and calm["mmbench_drift_windows_total"] == 3
    assert calm["mmbench_drift_p_value"] == pytest.approx(last.p_value) and last.p_value >= 0.01
    assert calm["mmbench_drift_statistic"] == pytest.approx(last.statistic)

    monitor.update(rng.normal(size=(200, 4)) + 1.0)  # two shifted windows
    drifting = _drift_samples(client.get("/metrics").text, "test-images")
    started = monitor.history[3]
    assert drifting["mmbench_drift_alert"] == 1 and drifting["mmbench_drift_windows_drifted_total"] == 2
    assert drifting["mmbench_drift_started_timestamp_seconds"] == started.time == 1_700_000_040.0
    assert drifting["mmbench_drift_p_value"] < 0.01 and drifting["mmbench_drift_samples_total"] == 500

    monitor.update(rng.normal(size=(100, 4)))  # back to normal: alert and start time clear
    healed = _drift_samples(client.get("/metrics").text, "test-images")
    assert healed["mmbench_drift_alert"] == 0 and healed["mmbench_drift_started_timestamp_seconds"] == 0
    del monitor
    gc.collect()
    assert _drift_samples(client.get("/metrics").text, "test-images") == {}  # weakly held


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


@contextmanager
def _prometheus(tmp_path: Path, target_port: int):
    """A real Prometheus server on loopback scraping ``127.0.0.1:target_port/metrics`` every second
    (job ``mmbench``); yields its base URL once it is ready, stops it afterwards."""
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the Prometheus server is not installed (Debian package 'prometheus': apt-get install prometheus)")
    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        "scrape_configs:\n  - job_name: mmbench\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{target_port}']\n")
    prom = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        url = f"http://127.0.0.1:{port}"
        _wait_for(f"{url}/-/ready", prom, "prometheus", 20)
        yield url
    finally:
        _stop(prom)


def _wait_for_scrape_after(prometheus: str, moment: float, limit_s: float = 20) -> None:
    """Wait until Prometheus has scraped the target after ``moment`` (seconds since the epoch)."""
    deadline = time.monotonic() + limit_s
    while True:
        last = _scalar(prometheus, 'max(timestamp(up{job="mmbench"}))')
        if last is not None and last > moment + 0.1:
            return
        assert time.monotonic() < deadline, f"Prometheus did not scrape after {moment} (last {last})"
        time.sleep(0.3)


@pytest.mark.timeout(180)
def test_a_real_prometheus_server_counts_the_requests_sent(tmp_path):
    if shutil.which("prometheus") is None:
        pytest.skip("the Prometheus server is not installed (Debian package 'prometheus': apt-get install prometheus)")
    from gradio_client import Client, handle_file
    from PIL import Image

    app_port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(app_port), "GRADIO_SERVER_NAME": "127.0.0.1",
           "MMBENCH_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"}
    env.pop("PORT", None)
    app = subprocess.Popen([sys.executable, "app.py"], cwd=REPO, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # (up to 45 s seen on a busy 2-core machine)
        _wait_for(f"http://127.0.0.1:{app_port}/metrics", app, "python app.py", 60)
        with _prometheus(tmp_path, app_port) as prometheus:
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
            _wait_for_scrape_after(prometheus, time.time())  # a scrape that started after the last request
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
        _stop(app)


@pytest.mark.timeout(60)
def test_prometheus_reads_the_drift_alert_and_when_the_drift_started(tmp_path):
    """PromQL on the drift gauges: the alert, the p-value below the alarm level, the start time."""
    import numpy as np
    from prometheus_client import start_http_server

    from mmbench.monitor import DriftMonitor, KSDetector

    rng = np.random.default_rng(1)
    monitor = DriftMonitor(KSDetector(n_components=4).fit(rng.normal(size=(800, 4))), window_size=100,
                           name="promql-images")
    monitor.update(rng.normal(size=(200, 4)))
    monitor.update(rng.normal(size=(100, 4)) + 1.0)
    assert monitor.alert
    port = free_port()
    server, thread = start_http_server(port, addr="127.0.0.1", registry=telemetry.metrics().registry)
    try:
        with _prometheus(tmp_path, port) as prometheus:
            _wait_for_scrape_after(prometheus, time.time())
            selector = '{job="mmbench", monitor="promql-images"}'
            assert _scalar(prometheus, f"mmbench_drift_alert{selector}") == 1
            started = _scalar(prometheus, f"mmbench_drift_started_timestamp_seconds{selector}")
            assert started == pytest.approx(monitor.drift_started.time, abs=1e-3)
            assert monitor.drift_started.window == 2
            below = _query(prometheus, f"mmbench_drift_p_value{selector} < on(monitor) mmbench_drift_alpha{selector}")
            assert len(below) == 1 and float(below[0]["value"][1]) < 0.01
            assert _scalar(prometheus, f"mmbench_drift_windows_drifted_total{selector}") == 1
            alerting = _query(prometheus, 'mmbench_drift_alert{monitor="promql-images"} == 1')
            assert [r["metric"]["method"] for r in alerting] == ["ks"]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
