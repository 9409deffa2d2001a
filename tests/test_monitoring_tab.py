"""The Monitoring tab: its handlers (no browser) on a real drift monitor over the tiny CLIP's image
embeddings. A palette shift streamed through it raises the alert with p-values below the alarm level;
a stream without shift does not; corrupt requests are counted as errors; the request plot and the
Prometheus gauges follow."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest

from mmbench import telemetry
from mmbench.monitor.live import SIMULATED_ACTION, LiveDrift, LiveDriftSettings, RequestSeries
from mmbench.ui import monitoring_tab

pytestmark = pytest.mark.usefixtures("one_thread")

NAME = "tab-test-images"
#: small enough for the default test run: 600 reference scenes, windows of 200 images, 20 images per request
SETTINGS = LiveDriftSettings(n_reference=600, n_pca=300, window_size=200, request_size=20, name=NAME)


@pytest.fixture(scope="module")
def live(tiny_pipe):
    drift = LiveDrift(SETTINGS, pipe=tiny_pipe)
    drift.fit()
    return drift


@pytest.fixture
def tab(live, monkeypatch):
    live.reset()
    monkeypatch.setattr(monitoring_tab, "_LIVE", live)
    monkeypatch.setattr(monitoring_tab, "_SERIES", RequestSeries())
    return monitoring_tab


def _run(gen):
    outputs = list(gen)
    assert outputs, "simulate yields at least once"
    return outputs


def test_a_palette_shift_raises_the_alert_and_no_shift_does_not(tab):
    errors_before = telemetry.metrics().value("mmbench_request_errors_total",
                                              {"action": SIMULATED_ACTION, "error_type": "ImageError"})
    calm = _run(tab.simulate("none", 20, 0.0))  # 400 images: two windows of the world as it is
    _, fig, alert, summary, state = calm[-1]
    assert state["windows_tested"] == 2 and state["windows_drifted"] == 0 and not state["alert"]
    assert state["last_p_value"] >= state["alpha"] == 0.01
    assert 'data-alert="0"' in alert and "No alert" in alert
    assert "**none**" in summary and "20 requests, 0 failed, windows 0–1" in summary
    assert len(calm) == 3  # after each of the two windows, and at the end
    assert telemetry.metrics().value("mmbench_drift_alert", {"monitor": NAME}) == 0

    shifted = _run(tab.simulate("palette", 25, 0.1))
    requests_fig, fig, alert, summary, state = shifted[-1]
    data = tab.live().drift_data()
    assert state["alert"] and state["drift_started_window"] == 2  # the first palette window
    assert data["p_values"][2] < 0.01 and state["last_p_value"] < 0.01
    failed = data["segments"][-1]["errors"]
    assert failed == int((np.random.default_rng([SETTINGS.seed + 100 + 1, 3]).random(25) < 0.1).sum()) > 0
    assert len(data["drift"]) == 2 + (25 - failed) * 20 // 200  # corrupt requests feed nothing to the monitor
    assert data["drift"] == [False, False] + [True] * (len(data["drift"]) - 2)  # every palette window drifts
    assert 'data-alert="1"' in alert and "ALERT: drift detected</b> since window 2" in alert
    assert "UTC" in alert and "**palette**" in summary
    errors_after = telemetry.metrics().value("mmbench_request_errors_total",
                                             {"action": SIMULATED_ACTION, "error_type": "ImageError"})
    assert errors_after - errors_before == failed  # corrupt uploads are counted as ImageError
    # the Prometheus gauges say the same
    m = telemetry.metrics()
    assert m.value("mmbench_drift_alert", {"monitor": NAME}) == 1
    assert m.value("mmbench_drift_started_timestamp_seconds", {"monitor": NAME}) == state["drift_started_time"] > 0
    assert m.value("mmbench_drift_p_value", {"monitor": NAME}) == pytest.approx(state["last_p_value"])
    # the plots: red points for drifting windows, a shaded span per simulated shift, the α line
    ax = fig.axes[0]
    assert any(t.get_text() == "palette" for t in ax.texts) and any(t.get_text() == "none" for t in ax.texts)
    assert any("α = 0.01" in t.get_text() for t in ax.get_legend().get_texts())
    assert any("drift started (window 2)" in t.get_text() for t in ax.get_legend().get_texts())
    req_ax = requests_fig.axes[0]
    assert [t.get_text() for t in req_ax.get_legend().get_texts()].count("image-text-matching") == 1

    _, fig, alert, summary, state = tab.reset()
    assert state["windows_tested"] == 0 and not state["alert"] and summary == "No stream simulated yet."


def test_the_request_series_counts_requests_errors_and_latency_per_interval(tab):
    t = telemetry.Telemetry()
    times = iter([100.0, 110.0, 120.0])
    series = RequestSeries(t, clock=lambda: next(times))
    series.sample()
    for seconds, error in ((0.2, None), (0.4, "ImageError")):
        record = telemetry.RequestRecord(action="x", task="image-text-matching", error=error)
        t.record(record, seconds)
    series.sample()
    series.sample()
    frame = series.frame()
    assert frame["time"] == [100.0, 110.0, 120.0]
    row = frame["tasks"]["image-text-matching"]
    assert row["requests"] == [2.0, 0.0] and row["errors"] == [1.0, 0.0]
    assert row["latency_ms"][0] == pytest.approx(300.0) and np.isnan(row["latency_ms"][1])


def test_refresh_draws_the_metrics_and_the_current_monitor(tab):
    fig, drift_fig, alert, summary, state = tab.refresh()
    assert state["windows_tested"] == 0 and "No alert" in alert and "no window tested yet" in alert
    assert fig.axes and drift_fig.axes


@pytest.mark.parametrize("args, message", [
    (("fog", 10, 0.0), "Unknown shift"),
    (("palette", 0, 0.0), "from 1 to 400 requests"),
    (("palette", "many", 0.0), "whole number"),
    (("palette", 10, 0.9), "from 0.0 to 0.5"),
])
def test_bad_simulation_settings_are_messages(tab, args, message):
    with pytest.raises(gr.Error, match=message):
        list(tab.simulate(*args))


def test_the_app_has_the_monitoring_tab():
    from mmbench.ui.app import TABS

    assert [t.id for t in TABS].count("monitoring") == 1
    with gr.Blocks():
        parts = monitoring_tab.build_monitoring_tab()
    assert {"drift_plot", "alert", "simulate", "requests_plot", "timer"} <= set(parts.components)
