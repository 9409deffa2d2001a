"""The "Monitoring" tab: this process's request metrics as live plots, and a drift monitor on the tiny
CLIP's image embeddings with a "simulate a shift" button that streams shifted requests through it.

All the work is in the library: :class:`mmbench.monitor.live.RequestSeries` (requests, errors and
latency per task from :mod:`mmbench.telemetry`), :class:`mmbench.monitor.live.LiveDrift` (the fitted
monitor and the simulated streams) and :mod:`mmbench.plots.monitoring` (the figures). Both are
process-wide, like the metrics Prometheus scrapes at ``/metrics``: every user sees the same monitor.
"""

from __future__ import annotations

import html
import threading
from datetime import datetime, timezone
from typing import Any

import gradio as gr

from . import common
from .common import TabParts, user_errors

TAB_TITLE = "Monitoring"

#: Shifts offered by the simulator (mirrors ``mmbench.data.shifts.IMAGE_SHIFTS`` and its descriptions; kept
#: as data here so building the app imports neither numpy-heavy code nor torch).
SHIFT_CHOICES: tuple[tuple[str, str], ...] = (
    ("none: the procedural world as it is", "none"),
    ("noise: pixel noise σ 20 instead of 7", "noise"),
    ("background: checkerboard background", "background"),
    ("palette: object hues turned 15°", "palette"),
    ("unseen shape: star, crescent, heart", "shape"),
    ("label shift: half the scenes are circles", "label"),
)
DEFAULT_REQUESTS = 40
MAX_REQUESTS = 400
REFRESH_SECONDS = 2.0

INTRO = """\
**Watching a model in production.** The top plot is this app's own Prometheus metrics (served at `/metrics`):
requests, errors and mean latency per task, sampled each time you refresh. The **drift monitor** below tests
windows of tiny-CLIP image embeddings against a reference of the procedural world (KS per principal component,
Bonferroni): a window *drifts* when its p-value is below the alarm level α = 0.01, and the monitor raises an alert
and remembers when the drift started. **Simulate a shift** streams requests of shifted scenes (10 images per
request) through it, and some corrupt ones if you ask; watch the p-values fall when the data changes. The same
state is exported as `mmbench_drift_alert`, `mmbench_drift_p_value` and `mmbench_drift_started_timestamp_seconds`.
"""

_LOCK = threading.Lock()
_SERIES: Any = None
_LIVE: Any = None


def series() -> Any:
    """The process's :class:`~mmbench.monitor.live.RequestSeries` (made on first use)."""
    global _SERIES
    with _LOCK:
        if _SERIES is None:
            from ..monitor.live import RequestSeries

            _SERIES = RequestSeries()
        return _SERIES


def live() -> Any:
    """The process's :class:`~mmbench.monitor.live.LiveDrift` (made on first use; fitted on the first simulation)."""
    global _LIVE
    with _LOCK:
        if _LIVE is None:
            from ..monitor.live import LiveDrift

            _LIVE = LiveDrift()
        return _LIVE


def _time(ts: float | None) -> str:
    return "—" if ts is None else datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def alert_html(data: dict) -> str:
    """The alert badge: alerting or not, since which window and when, the latest p-value against α."""
    state = data.get("state", {})
    last = state.get("last_p_value")
    alpha = float(data.get("alpha", 0.01))
    p_text = "no window tested yet" if last is None else f"latest p-value <b>{last:.3g}</b> (α = {alpha:g})"
    counts = (f"{state.get('windows_tested', 0)} windows tested, {state.get('windows_drifted', 0)} drifted, "
              f"{state.get('samples_seen', 0)} images seen")
    if state.get("alert"):
        body = (f"<b>ALERT: drift detected</b> since window {state['drift_started_window']} (image "
                f"{state['drift_started_sample']}, {_time(state['drift_started_time'])}) · {p_text} · {counts}")
        colour = "214, 39, 40"
    else:
        body = f"<b>No alert</b> · {p_text} · {counts}"
        colour = "44, 160, 44"
    return (f'<div id="monitoring-alert-state" data-alert="{int(bool(state.get("alert")))}" '
            f'style="border-left: 4px solid rgb({colour}); background: rgba({colour}, 0.12); padding: 6px 10px; '
            f'border-radius: 4px;">{body}</div>')


def _summary(data: dict) -> str:
    rows = []
    for seg in data.get("segments", [])[-6:]:
        span = ("no full window yet" if seg["first_window"] is None
                else f"windows {seg['first_window']}–{seg['last_window']}")
        rows.append(f"* **{html.escape(seg['shift'])}** ({html.escape(data['shift_descriptions'][seg['shift']])}): "
                    f"{seg['requests']} requests, {seg['errors']} failed, {span}")
    return "\n".join(rows) or "No stream simulated yet."


def _drift_outputs(data: dict) -> tuple[Any, str, str, dict]:
    from ..plots.monitoring import drift_pvalues_figure

    return drift_pvalues_figure(data), alert_html(data), _summary(data), data.get("state", {})


def _requests_figure() -> Any:
    from ..plots.monitoring import request_series_figure

    series().sample()
    return request_series_figure(series().frame())


def _current() -> dict:
    return live().drift_data()


# -- handlers --------------------------------------------------------------------------------------
def refresh() -> tuple[Any, Any, str, str, dict]:
    """Sample the metrics and redraw everything: request plot, drift plot, alert, summary, monitor state."""
    with user_errors("refreshing the monitoring plots"):
        return (_requests_figure(), *_drift_outputs(_current()))


def simulate(shift: str | None, n_requests: float | None, corrupt_share: float | None,
             progress: gr.Progress = gr.Progress()):
    """Stream shifted requests through the drift monitor; yields the updated plots after each tested window."""
    with user_errors("simulating a shifted stream"):
        n = common.number_option(n_requests, 1, MAX_REQUESTS, convert=int,
                                 not_a_number="The number of requests must be a whole number, not {value!r}.",
                                 out_of_range="Simulate from {lo} to {hi} requests, not {number}.")
        share = common.number_option(corrupt_share if corrupt_share is not None else 0.0, 0.0, 0.5,
                                     not_a_number="The share of corrupt requests must be a number, not {value!r}.",
                                     out_of_range="The share of corrupt requests must be from {lo} to {hi}, "
                                                  "not {number:g}.")
        chosen = shift or "none"
        if chosen not in {value for _, value in SHIFT_CHOICES}:
            raise common.user_error(f"Unknown shift {chosen!r}: choose one from the list.")
        progress(0.0, desc="Starting the stream")
        # the library yields after each tested window and once at the end
        for data in live().simulate(chosen, n, corrupt_share=share,
                                    progress=lambda fraction, text: progress(fraction, desc=text)):
            yield (_requests_figure(), *_drift_outputs(data))


def reset() -> tuple[Any, Any, str, str, dict]:
    """Forget the monitor's windows and the simulated streams (its reference stays fitted)."""
    with user_errors("resetting the drift monitor"):
        live().reset()
        return (_requests_figure(), *_drift_outputs(_current()))


def toggle_live(on: bool) -> Any:
    """Start or stop the periodic refresh."""
    return gr.Timer(active=bool(on))


# -- layout ------------------------------------------------------------------------------------------
def build_monitoring_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    gr.Markdown(INTRO)
    with gr.Row():
        refresh_button = gr.Button("Refresh", elem_id="monitoring-refresh", scale=0, min_width=120)
        live_box = gr.Checkbox(False, label=f"Live: refresh every {REFRESH_SECONDS:g} s", elem_id="monitoring-live")
    requests_plot = gr.Plot(label="Requests, errors and latency per task", format="png", elem_id="monitoring-requests")
    with gr.Accordion("Drift monitor (tiny CLIP image embeddings, KS + PCA, α = 0.01)", open=True):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                shift = gr.Dropdown(list(SHIFT_CHOICES), value="palette", label="Shift to simulate",
                                    elem_id="monitoring-shift")
                n_requests = gr.Number(DEFAULT_REQUESTS, precision=0, minimum=1, maximum=MAX_REQUESTS,
                                       label="Requests (10 images each; a window is 200 images)",
                                       elem_id="monitoring-requests-count")
                corrupt = gr.Slider(0.0, 0.5, value=0.0, step=0.01, label="Share of corrupt requests (errors)",
                                    elem_id="monitoring-corrupt")
                with gr.Row():
                    run = gr.Button("Simulate a shift", variant="primary", elem_id="monitoring-simulate")
                    clear = gr.Button("Reset monitor", elem_id="monitoring-reset")
                summary = gr.Markdown(elem_id="monitoring-summary")
            with gr.Column(scale=2, min_width=380):
                alert = gr.HTML(alert_html({"state": {}, "alpha": 0.01}), elem_id="monitoring-alert")
                drift_plot = gr.Plot(label="p-value per window", format="png", elem_id="monitoring-drift")
                with gr.Accordion("Monitor state (JSON)", open=False):
                    state = gr.JSON(label="DriftMonitor.state()", elem_id="monitoring-state")
    timer = gr.Timer(REFRESH_SECONDS, active=False)

    outputs = [requests_plot, drift_plot, alert, summary, state]
    refresh_button.click(refresh, None, outputs, api_name="monitoring_refresh")
    timer.tick(refresh, None, outputs, api_visibility="private", show_progress="hidden")
    live_box.change(toggle_live, [live_box], [timer], api_visibility="private")
    run.click(simulate, [shift, n_requests, corrupt], outputs, api_name="simulate_shift",
              concurrency_id="monitoring-simulate", concurrency_limit=1)
    clear.click(reset, None, outputs, api_name="reset_drift_monitor", concurrency_id="monitoring-simulate",
                concurrency_limit=1)
    return TabParts(components={"requests_plot": requests_plot, "drift_plot": drift_plot, "alert": alert,
                                "summary": summary, "state": state, "shift": shift, "n_requests": n_requests,
                                "corrupt": corrupt, "simulate": run, "reset": clear, "live": live_box,
                                "timer": timer})
