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

from . import common, locale
from .common import TabParts, user_errors
from .locale import T

TAB_TITLE = T("monitoring.title")

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

INTRO = T("monitoring.intro")

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
    tr = locale.tr
    p_text = tr("monitoring.no_window") if last is None else tr("monitoring.latest_p", p=f"{last:.3g}", alpha=f"{alpha:g}")
    counts = tr("monitoring.counts", tested=state.get("windows_tested", 0), drifted=state.get("windows_drifted", 0),
                seen=state.get("samples_seen", 0))
    if state.get("alert"):
        body = tr("monitoring.alert", window=state["drift_started_window"], image=state["drift_started_sample"],
                  time=_time(state["drift_started_time"])) + f" · {p_text} · {counts}"
        colour = "214, 39, 40"
    elif not state and not locale.serving():  # the page as built: one key, the browser translates it
        body, colour = locale.text("monitoring.initial"), "44, 160, 44"
    else:
        body = f"{tr('monitoring.no_alert')} · {p_text} · {counts}"
        colour = "44, 160, 44"
    return (f'<div id="monitoring-alert-state" data-alert="{int(bool(state.get("alert")))}" '
            f'style="border-left: 4px solid rgb({colour}); background: rgba({colour}, 0.12); padding: 6px 10px; '
            f'border-radius: 4px;">{body}</div>')


def _summary(data: dict) -> str:
    rows = []
    for seg in data.get("segments", [])[-6:]:
        span = (locale.tr("monitoring.no_full_window") if seg["first_window"] is None
                else locale.tr("monitoring.windows_span", first=seg["first_window"], last=seg["last_window"]))
        description = locale.tr_text(data["shift_descriptions"][seg["shift"]])
        rows.append(f"* **{html.escape(seg['shift'])}** ({html.escape(description)}): "
                    + locale.tr("monitoring.segment", requests=seg["requests"], errors=seg["errors"], span=span))
    return "\n".join(rows) or locale.tr("monitoring.no_stream")


def _drift_outputs(data: dict) -> tuple[Any, str, str, dict]:
    from ..plots.monitoring import drift_pvalues_figure

    return locale.figure(drift_pvalues_figure(data)), alert_html(data), _summary(data), data.get("state", {})


def _requests_figure() -> Any:
    from ..plots.monitoring import request_series_figure

    series().sample()
    return locale.figure(request_series_figure(series().frame()))


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
        progress(0.0, desc=locale.tr("monitoring.progress_start"))
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
        refresh_button = gr.Button(T("monitoring.refresh"), elem_id="monitoring-refresh", scale=0, min_width=120)
        live_box = gr.Checkbox(False, label=T("monitoring.live_2"), elem_id="monitoring-live")
    requests_plot = gr.Plot(label=T("monitoring.requests_errors_and_latency"), format="png", elem_id="monitoring-requests")
    with gr.Accordion(T("monitoring.drift_monitor_tiny_clip"), open=True):
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=300):
                shift = gr.Dropdown([(locale.text(f"monitoring.shift_{k}"), k) for _, k in SHIFT_CHOICES], value="palette", label=T("monitoring.shift_to_simulate"),
                                    elem_id="monitoring-shift")
                n_requests = gr.Number(DEFAULT_REQUESTS, precision=0,  # the handler says the range
                                       label=T("monitoring.requests_10_images_each"),
                                       elem_id="monitoring-requests-count")
                corrupt = gr.Slider(0.0, 0.5, value=0.0, step=0.01, label=T("monitoring.share_of_corrupt_requests"),
                                    elem_id="monitoring-corrupt")
                with gr.Row():
                    run = gr.Button(T("monitoring.simulate_a_shift"), variant="primary", elem_id="monitoring-simulate")
                    halt = gr.Button(T("monitoring.stop"), variant="stop", elem_id="monitoring-stop")
                    clear = gr.Button(T("monitoring.reset_monitor"), elem_id="monitoring-reset")
                message = common.action_message("monitoring-message")
                summary = gr.Markdown(elem_id="monitoring-summary")
                gr.Examples([["palette", DEFAULT_REQUESTS, 0.0], ["noise", DEFAULT_REQUESTS, 0.1],
                             ["none", DEFAULT_REQUESTS, 0.0]], inputs=[shift, n_requests, corrupt],
                            cache_examples=False, label=T("monitoring.examples_click_then_simulate"),
                            elem_id="monitoring-examples")
            with gr.Column(scale=2, min_width=380):
                alert = gr.HTML(alert_html({"state": {}, "alpha": 0.01}), elem_id="monitoring-alert")
                drift_plot = gr.Plot(label=T("monitoring.p_value_per_window"), format="png", elem_id="monitoring-drift")
                with gr.Accordion(T("monitoring.monitor_state_json"), open=False):
                    state = gr.JSON(label="DriftMonitor.state()", elem_id="monitoring-state")
    timer = gr.Timer(REFRESH_SECONDS, active=False)

    outputs = [requests_plot, drift_plot, alert, summary, state]
    common.report_on(message, refresh_button.click(refresh, None, outputs, api_name="monitoring_refresh"))
    timer.tick(refresh, None, outputs, api_visibility="private", show_progress="hidden")
    live_box.change(toggle_live, [live_box], [timer], api_visibility="private")
    simulation = run.click(simulate, [shift, n_requests, corrupt], outputs, api_name="simulate_shift",
                           concurrency_id="monitoring-simulate", concurrency_limit=1)
    halt.click(None, None, None, cancels=[simulation], queue=False, api_visibility="private")
    common.report_on(message, simulation,
                     clear.click(reset, None, outputs, api_name="reset_drift_monitor",
                                 concurrency_id="monitoring-simulate", concurrency_limit=1))
    return TabParts(components={"requests_plot": requests_plot, "drift_plot": drift_plot, "alert": alert,
                                "summary": summary, "state": state, "shift": shift, "n_requests": n_requests,
                                "corrupt": corrupt, "simulate": run, "reset": clear, "live": live_box,
                                "timer": timer})
