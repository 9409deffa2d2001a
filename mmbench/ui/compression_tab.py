"""The "Compression" tab: pick a model and compression methods, run a small, bounded measurement, and
see the table and the size vs latency vs accuracy plot.

All the work is in the library: :func:`mmbench.benchmarks.compress_models.measure` compresses with
:func:`mmbench.compress.compress`, times the copies in interleaved rounds and scores each on the
model's own held-out data; :func:`mmbench.plots.compress.tradeoff_figure` draws the plot. The tab
runs a quick version (small held-out sets, a few rounds, the server's allocator left as it is);
``mmbench bench compress`` is the full measurement.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import common, locale
from .common import TabParts, user_errors
from .locale import T

TAB_TITLE = T("compression.title")

#: (label, table name) of the models with a compression table (mirrors compress_models.MODELS; kept as
#: data so that building the app imports no torch).
MODEL_CHOICES: tuple[tuple[str, str], ...] = (
    ("mmbench-tiny-clip (zero-shot top-1)", "mmbench-tiny-clip"),
    ("all-minilm-l6-v2 (sentiment accuracy of its embeddings)", "all-minilm-l6-v2"),
    ("mmbench-tiny-video (video top-1)", "mmbench-tiny-video"),
    ("efficientnet-lite0 (ImageNet agreement with the original)", "efficientnet-lite0"),
    ("fusion-tfn: tensor fusion, trained here (macro-F1)", "fusion-tfn"),
    ("whisper-tiny.en-ct2 (LibriVox WER)", "whisper-tiny.en-ct2"),
)
#: Methods offered (fp32 always runs: it is the original the others are compared with).
METHOD_CHOICES: tuple[str, ...] = ("int8-dynamic", "torchao-int8", "onnx", "onnx-int8", "bfloat16", "float16",
                                   "distilled")
DEFAULT_METHODS = ["int8-dynamic", "onnx", "onnx-int8", "bfloat16"]
WHISPER_METHODS = ("int8-dynamic",)
DEFAULT_ROUNDS, MAX_ROUNDS = 5, 20

INTRO = T("compression.intro")


def _methods_for(model: str, methods: list[str] | None) -> str:
    chosen = [m for m in (methods or []) if m in METHOD_CHOICES]
    unknown = [m for m in (methods or []) if m not in METHOD_CHOICES]
    if unknown:
        raise common.user_error(f"Unknown method(s) {', '.join(map(repr, unknown))}: choose from the list.")
    if model == "whisper-tiny.en-ct2":
        chosen = [m for m in chosen if m in WHISPER_METHODS]
    return ",".join(["fp32", *chosen])


def summary_markdown(table: dict) -> str:
    """What was measured and how: the metric, the runtime settings, notes and methods that did not apply."""
    rt = table.get("runtime", {})
    lines = [f"**{table['model']}** · " + locale.tr("compression.summary_head", metric=table["metric"],
                                                    rounds=table.get("rounds", "?"), threads=rt.get("threads", "?"),
                                                    allocator=rt.get("allocator", "?"))]
    fp32 = table["rows"].get("fp32", {})
    for method, r in table["rows"].items():
        if method == "fp32" or "error" in r:
            continue
        if "speedup_batch32" in r:
            lines.append(f"* `{method}`: " + locale.tr(
                "compression.summary_row", size=f"{r['size_mb'] / max(fp32.get('size_mb', 1e-9), 1e-9):.2f}",
                speed=f"{r['speedup_batch32']:.2f}", metric=table["metric"], value=f"{r['metric']:.4g}",
                original=f"{r.get('metric_original', float('nan')):.4g}"))
        elif "speedup" in r:
            lines.append(f"* `{method}`: " + locale.tr(
                "compression.summary_row_wer", speed=f"{r['speedup']:.2f}", value=f"{r['metric']:.4g}",
                original=f"{r.get('metric_original', float('nan')):.4g}"))
    lines += [f"* {locale.tr('compression.not_applicable')} — `{m}`: {locale.tr_text(r['error'])}"
              for m, r in table["rows"].items() if "error" in r]
    lines += [f"* {locale.tr('compression.note')}: {locale.tr_text(n)}" for n in table.get("notes", [])]
    return "\n".join(lines)


def run_measurement(model: str | None, methods: list[str] | None, rounds: float | None,
                    progress: gr.Progress = gr.Progress()) -> tuple[Any, Any, str, dict]:
    """Compress ``model`` with ``methods`` and measure (quick settings); returns (table, plot, summary, JSON)."""
    with user_errors("measuring the compressed models"):
        if model not in {value for _, value in MODEL_CHOICES}:
            raise common.user_error(f"Unknown model {model!r}: choose one from the list.")
        n_rounds = common.number_option(rounds if rounds is not None else DEFAULT_ROUNDS, 1, MAX_ROUNDS, convert=int,
                                        not_a_number="The number of rounds must be a whole number, not {value!r}.",
                                        out_of_range="Use {lo} to {hi} rounds, not {number}.")
        chosen = _methods_for(model, methods)
        import pandas as pd
        import torch

        from ..benchmarks.compress_models import QUICK_N_EVAL, measure, table_rows
        from ..plots.compress import tradeoff_figure

        steps = {"n": 0}
        expected = 3 + 2 * len(chosen.split(","))

        def say(text: str) -> None:
            steps["n"] += 1
            progress(min(0.99, steps["n"] / expected), desc=text)

        progress(0.0, desc=locale.tr("compression.progress_loading"))
        table = measure(model, chosen, rounds=n_rounds, warmup=1, threads=torch.get_num_threads(),
                        n_eval=QUICK_N_EVAL.get(model), allocator="default", progress=say)
        headers, rows = table_rows(table)
        figure = locale.figure(tradeoff_figure(table)) if not model.startswith("whisper") else None
        return pd.DataFrame(rows, columns=headers), figure, summary_markdown(table), table


def build_compression_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    gr.Markdown(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=300):
            model = gr.Dropdown([(locale.text(f"compression.model_{m}"), m) for _, m in MODEL_CHOICES], value="mmbench-tiny-clip", label=T("compression.model"),
                                elem_id="compression-model")
            methods = gr.CheckboxGroup([(locale.text(f"compression.method_{m}") if m == "distilled" else m, m) for m in METHOD_CHOICES],
                                       value=DEFAULT_METHODS, label=T("compression.methods_fp32_always_runs"),
                                       elem_id="compression-methods")
            rounds = gr.Number(DEFAULT_ROUNDS, precision=0,  # the handler says the range
                               label=T("compression.timing_rounds_interleaved_pairs"), elem_id="compression-rounds")
            with gr.Row():
                run = gr.Button(T("compression.compress_and_measure"), variant="primary", elem_id="compression-run", scale=3)
                halt = gr.Button(T("compression.stop"), variant="stop", elem_id="compression-stop", scale=1)
            message = common.action_message("compression-message")
            summary = gr.Markdown(elem_id="compression-summary")
            gr.Examples([["mmbench-tiny-clip", ["int8-dynamic"], 2], ["all-minilm-l6-v2", ["int8-dynamic", "onnx"], 3],
                         ["mmbench-tiny-video", ["int8-dynamic", "bfloat16"], 3]], inputs=[model, methods, rounds],
                        cache_examples=False, label=T("compression.examples_click_then_compress"),
                        elem_id="compression-examples")
        with gr.Column(scale=2, min_width=420):
            plot = gr.Plot(label=T("compression.size_vs_latency_colour"), format="png", elem_id="compression-plot")
            table = gr.Dataframe(label=T("compression.compression_table"), interactive=False, wrap=True, elem_id="compression-table")
            with gr.Accordion(T("compression.raw_measurement_json"), open=False):
                raw = gr.JSON(label="measure()", elem_id="compression-json")
    event = run.click(run_measurement, [model, methods, rounds], [table, plot, summary, raw],
                      api_name="compress_measure", concurrency_id="compression-measure", concurrency_limit=1)
    common.report_on(message, event)
    halt.click(None, None, None, cancels=[event], queue=False, api_visibility="private")
    return TabParts(components={"model": model, "methods": methods, "rounds": rounds, "run": run, "summary": summary,
                                "plot": plot, "table": table, "raw": raw})
