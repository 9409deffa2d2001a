"""The "Fusion lab" tab: train fusion strategies on the procedural tri-modal sentiment data and compare them.

All the work is in the library (:func:`mmbench.fusion.lab.compare`, :mod:`mmbench.fusion.inspect`,
:mod:`mmbench.plots.fusion`); this module only checks the inputs, turns the report into tables, plots,
an error gallery and a single-example view, and wires them to the ``fusion_compare`` and
``fusion_sample`` endpoints. The report of a user's last run lives in that user's ``gr.State``.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from . import common, locale
from .common import TabParts, number_option, user_error, user_errors
from .locale import T

TAB_TITLE = T("fusion.title")

#: Every strategy the lab knows, in the library's order (mirrors ``mmbench.models.fusion_strategies.STRATEGIES``;
#: kept as data here so building the app does not import torch).
STRATEGY_CHOICES: tuple[str, ...] = ("text", "image", "audio", "concat", "fc", "late_average", "late_product",
                                     "late_max", "late_learned", "gated", "tfn", "lmf", "attention")
UNIMODAL_CHOICES: tuple[str, ...] = ("text", "image", "audio")
MODALITY_NAMES: tuple[str, ...] = ("text", "image", "audio")
MAX_SEEDS = 3

#: Representations per modality (mirrors ``mmbench.fusion.representations.REPRESENTATIONS``; data, no torch).
REPRESENTATION_CHOICES: dict[str, list[tuple[str, str]]] = {
    "text": [("TF-IDF (handcrafted)", "tfidf"), ("MiniLM sentence embedding (deep)", "minilm"),
             ("CLIP text tower (deep, tiny offline CLIP)", "clip")],
    "image": [("HOG + colour histograms (handcrafted)", "hog"), ("CLIP image tower (deep, tiny offline CLIP)", "clip"),
              ("face expression (deep, MTCNN + mini-Xception; real photos only)", "expression")],
    "audio": [("MFCC + chroma (handcrafted)", "mfcc"), ("spectrogram CNN (deep, mmbench-prosody-cnn)", "cnn")],
}
DEFAULT_REPRESENTATIONS: dict[str, str] = {"text": "tfidf", "image": "hog", "audio": "mfcc"}
WORD_METHODS: tuple[str, ...] = ("occlusion", "integrated_gradients")
#: First-time extraction cost of a deep representation, seconds per 1000 samples on one CPU core
#: (afterwards the features come from the cache).
_DEEP_SECONDS_PER_1000 = {"minilm": 12.0, "clip": 12.0, "cnn": 2.0, "expression": 5.0}
N_ERROR_CASES = 8

#: Dataset sizes offered in the UI: (train, validation, test) samples per seed.
DATASET_SIZES: dict[str, tuple[int, int, int]] = {
    "small": (600, 150, 300),
    "standard": (1500, 300, 600),
}
DEFAULT_SIZE = "small"
#: Rough CPU cost (seconds) used for the "expected time" hint: data + features per seed (per 1000 samples),
#: then training per strategy and seed.
_SECONDS_PER_1000_SAMPLES = 3.0
_SECONDS_PER_STRATEGY = 0.8

INTRO = T("fusion.intro")
FORMULAS = T("fusion.formulas")
REAL_DATA = T("fusion.real_data")


def expected_seconds(n_strategies: int, n_seeds: int, size: str = DEFAULT_SIZE,
                     representations: dict[str, str] | None = None, ablation: bool = False) -> float:
    """A rough CPU estimate of one comparison, shown next to the Run button (deep features: first run)."""
    n_samples = sum(DATASET_SIZES.get(size, DATASET_SIZES[DEFAULT_SIZE]))
    deep = sum(_DEEP_SECONDS_PER_1000.get(r, 0.0) for r in (representations or {}).values())
    trainings = n_strategies * (4 if ablation else 1)
    per_seed = (_SECONDS_PER_1000_SAMPLES + deep) * n_samples / 1000 + _SECONDS_PER_STRATEGY * trainings
    return max(1, n_seeds) * per_seed


def time_hint(strategies: list[str] | None, n_seeds: float | None, size: str | None, text_rep: str | None = None,
              image_rep: str | None = None, audio_rep: str | None = None, ablation: bool | None = False) -> str:
    """The "expected time" line under the Run button."""
    n, seeds = len(strategies or []), int(n_seeds or 1)
    reps = {"text": text_rep, "image": image_rep, "audio": audio_rep}
    secs = expected_seconds(n, seeds, size or DEFAULT_SIZE, {m: r for m, r in reps.items() if r}, bool(ablation))
    deep = [f"{m}: {r}" for m, r in reps.items() if r in _DEEP_SECONDS_PER_1000]
    extra = locale.tr("fusion.hint_deep", features=", ".join(deep)) if deep else ""
    extra += locale.tr("fusion.hint_ablation") if ablation else ""
    size = size or DEFAULT_SIZE
    named = locale.tr(f"fusion.size_word_{size}") if locale.i18n.has(f"fusion.size_word_{size}") else size
    return locale.tr("fusion.hint_time", secs=f"{secs:.0f}", n=n, seeds=seeds, size=named, extra=extra)


def _strategy_choices(names: Any) -> list[tuple[str, str]]:
    """(label in the user's language, strategy id) for a strategy picker."""
    return [(locale.text(f"fusion.strategy_{n}") if locale.i18n.has(f"fusion.strategy_{n}") else n, n) for n in names]


def _rep_label(modality: str, rep: str, label: str) -> str:
    key = f"fusion.rep_{rep}_{modality}" if rep == "clip" else f"fusion.rep_{rep}"
    return locale.text(key) if locale.i18n.has(key) else label


class NamedRangeSlider(gr.Slider):
    """``gr.Slider`` that leaves the range check to the handler.

    ``gr.Slider`` rejects an out-of-range API value with "Value 1.5 is greater than maximum value
    1.0.", which does not say *which* setting is wrong; the handler's check does (via ``user_error``).
    It renders exactly like ``gr.Slider`` (``is_template``).
    """

    is_template = True

    def preprocess(self, payload: Any) -> Any:
        return payload


# -- input checks ---------------------------------------------------------------------------------
def _check_inputs(strategies: list[str] | None, n_seeds: Any, reliability: dict[str, Any], noise: Any,
                  size: str | None) -> tuple[list[str], list[int], dict[str, float], float, str]:
    strategies = list(strategies or [])
    if not strategies:
        raise user_error("No strategy selected: tick at least one fusion strategy (and a unimodal baseline "
                         "such as 'text' to see what fusion gains).")
    unknown = [s for s in strategies if s not in STRATEGY_CHOICES]
    if unknown:
        raise user_error(f"Unknown strategy {unknown}: choose from {list(STRATEGY_CHOICES)}.")
    seeds = number_option(n_seeds if n_seeds is not None else 1, 1, MAX_SEEDS, convert=int,
                          not_a_number="The number of seeds must be a whole number from {lo} to {hi}, got {value!r}.",
                          out_of_range="The number of seeds must be from {lo} to {hi}, got {number}.")
    rel = {m: number_option(value, 0.0, 1.0,
                            not_a_number=f"The reliability of {m} must be a number from 0 to 1, got {{value!r}}.",
                            out_of_range=f"The reliability of {m} must be between 0 and 1 (a probability), "
                                         "got {number:g}.")
           for m, value in reliability.items()}
    noise_value = number_option(noise, 0.0, 1.0, not_a_number="The noise must be a number from 0 to 1, got {value!r}.",
                                out_of_range="The noise must be between 0 (crisp cues) and 1 (very hard to read), "
                                             "got {number:g}.")
    size = size or DEFAULT_SIZE
    if size not in DATASET_SIZES:
        raise user_error(f"Unknown dataset size {size!r}: choose from {list(DATASET_SIZES)}.")
    return strategies, list(range(seeds)), rel, noise_value, size


# -- report -> outputs ------------------------------------------------------------------------------
RESULT_HEADERS = ["rank", "strategy", "kind", "macro-F1 (mean ± std)", "macro-F1", "std", "accuracy", "ROC-AUC",
                  "F1 drop (modality missing)"]


def results_rows(report: Any) -> list[list[Any]]:
    """The side-by-side table: one row per strategy, best macro-F1 first."""
    rows = []
    for rank, r in enumerate(sorted(report.table(), key=lambda r: -r["macro_f1_mean"]), start=1):
        drop = r["missing_modality_drop"]
        rows.append([rank, r["strategy"], "unimodal" if r["strategy"] in UNIMODAL_CHOICES else "fusion",
                     f"{r['macro_f1_mean']:.3f} ± {r['macro_f1_std']:.3f}", round(r["macro_f1_mean"], 4),
                     round(r["macro_f1_std"], 4), round(r["accuracy_mean"], 4), round(r["roc_auc_mean"], 4),
                     None if drop is None else round(drop, 4)])
    return rows


def robustness_rows(report: Any) -> tuple[list[str], list[list[Any]]]:
    """Macro-F1 of each fusion strategy with all modalities and with each one removed (or noised)."""
    table = {s: t for s, t in report.robustness_table().items() if any(k.startswith("missing_") for k in t)}
    keys = ["full"] + [f"missing_{m}" for m in MODALITY_NAMES] + [f"noised_{m}" for m in MODALITY_NAMES]
    headers = ["strategy", "all modalities"] + [f"without {m}" for m in MODALITY_NAMES] + \
              [f"{m} noised" for m in MODALITY_NAMES]
    rows = [[s] + [round(t[k], 4) if k in t else None for k in keys]
            for s, t in sorted(table.items(), key=lambda kv: -kv[1]["full"])]
    return headers, rows


def summary_markdown(report: Any, reliability: dict[str, float], noise: float, size: str,
                     representations: dict[str, str] | None = None) -> str:
    """Best strategy, best unimodal baseline, the gain, gate weights and the setting, in a few lines."""
    s = report.summary()
    lines = []
    if "best_strategy" in s:
        lines.append(f"**Best fusion strategy:** `{s['best_strategy']}` — macro-F1 {s['best_macro_f1']:.3f}")
    if "best_unimodal" in s:
        lines.append(f"**Best unimodal baseline:** `{s['best_unimodal']}` — macro-F1 "
                     f"{s['best_unimodal_macro_f1']:.3f}")
    if "gain_over_best_unimodal" in s:
        gain = s["gain_over_best_unimodal"]
        verdict = "fusion helps" if gain > 0 else "fusion does not help here"
        lines.append(f"**Gain of fusion over the best single modality:** {gain:+.3f} macro-F1 ({verdict})")
    elif "best_strategy" in s:
        lines.append("Tick a unimodal baseline (text, image or audio) to measure the gain of fusion.")
    if s.get("gate_weights_mean"):
        weights = ", ".join(f"{m} {w:.2f}" for m, w in s["gate_weights_mean"].items())
        lines.append(f"**Mean gate weights** of `gated` on the test set: {weights}")
    for name in ("gated", "attention"):
        key = f"{name}_more_robust_than_concat"
        if key in s:
            lines.append(f"`{name}` loses {'less' if s[key] else 'more'} than `concat` when a modality is missing.")
    if report.ablation:
        lines.append("**Ablation:** each fusion strategy retrained without each modality (table below).")
    if representations:
        lines.append("**Representations:** " + ", ".join(f"{m} `{r}`" for m, r in representations.items()))
    setting = ", ".join(f"{m} {v:.2f}" for m, v in reliability.items())
    n_train, n_val, n_test = DATASET_SIZES[size]
    lines.append(f"_Setting: reliability {setting}; noise {noise:.2f}; {size} dataset ({n_train} train / "
                 f"{n_val} validation / {n_test} test per seed); seeds {s['seeds']}; took {s['wall_seconds']:.1f} s._")
    return "\n\n".join(locale.tr_text(line) for line in lines)  # each line: a catalogue template


# -- handler ------------------------------------------------------------------------------------------
def _check_options(text_rep: Any, image_rep: Any, audio_rep: Any, multitask: Any, aux_weight: Any,
                   modality_dropout: Any) -> tuple[dict[str, str], dict[str, Any]]:
    reps: dict[str, str] = {}
    for m, value in (("text", text_rep), ("image", image_rep), ("audio", audio_rep)):
        value = value or DEFAULT_REPRESENTATIONS[m]
        allowed = [v for _, v in REPRESENTATION_CHOICES[m]]
        if value not in allowed:
            raise user_error(f"Unknown {m} representation {value!r}: choose from {allowed}.")
        reps[m] = value
    try:
        w = float(aux_weight if aux_weight is not None else 0.5)
        p = float(modality_dropout if modality_dropout is not None else 0.0)
    except (TypeError, ValueError):
        raise user_error("The auxiliary loss weight and the modality dropout must be numbers.") from None
    if not 0.0 <= w <= 5.0:
        raise user_error(f"The auxiliary loss weight must be between 0 and 5, got {w:g}.")
    if not 0.0 <= p <= 0.9:
        raise user_error(f"The modality dropout must be between 0 and 0.9 (a probability), got {p:g}.")
    return reps, {"multitask": bool(multitask), "aux_weight": w, "modality_dropout": p}


ABLATION_HEADERS = ["strategy", "all modalities"] + [f"retrained without {m}" for m in MODALITY_NAMES] + \
    [f"{m} removed at test" for m in MODALITY_NAMES]


def ablation_rows(report: Any) -> list[list[Any]]:
    rows = []
    for s, t in report.ablation_table().items():
        rows.append([s, round(t["all"], 4)] + [round(t[k], 4) if k in t else None for k in
                                                [f"without_{m}" for m in MODALITY_NAMES] +
                                                [f"missing_{m}" for m in MODALITY_NAMES]])
    return rows


def error_gallery(report: Any, k: int = N_ERROR_CASES) -> list[tuple[Any, str]]:
    """(image, caption) per error case of the best fusion strategy (its most confident mistakes)."""
    from ..fusion.inspect import error_cases
    from ..plots.figures import figure_to_image
    from ..plots.fusion import error_case_figure

    out = []
    for c in error_cases(report, k=k):
        wrong = ", ".join(c.wrong_by)
        out.append((figure_to_image(locale.figure(error_case_figure(c)), dpi=90),
                    f"#{c.index}: true {c.label}; {c.strategy} said {c.predictions[c.strategy]} "
                    f"({c.confidence[c.strategy]:.2f}); wrong: {wrong}"))
    return out


def fusion_compare(strategies: list[str] | None, n_seeds: float | None, text_reliability: float,
                   image_reliability: float, audio_reliability: float, noise: float, size: str | None,
                   text_rep: str | None = "tfidf", image_rep: str | None = "hog", audio_rep: str | None = "mfcc",
                   multitask: bool | None = False, aux_weight: float | None = 0.5,
                   modality_dropout: float | None = 0.0, ablation: bool | None = False,
                   progress: gr.Progress = gr.Progress()) -> tuple:
    """Train and score the chosen strategies. Returns the results table, the macro-F1 bars, the
    robustness plot and table, a markdown summary, the ROC/PR and calibration plots, the ablation plot
    and table, the error gallery, the single-example pickers, and the report (per-user state)."""
    from ..fusion import UNIMODAL
    from ..fusion.inspect import error_cases
    from ..fusion.data import FusionSetting
    from ..fusion.lab import compare
    from ..fusion.training import TrainConfig
    from ..plots import fusion as plots

    with user_errors("comparing the fusion strategies"):
        reliability = {"text": text_reliability, "image": image_reliability, "audio": audio_reliability}
        strategies, seeds, reliability, noise, size = _check_inputs(strategies, n_seeds, reliability, noise, size)
        reps, options = _check_options(text_rep, image_rep, audio_rep, multitask, aux_weight, modality_dropout)
        n_train, n_val, n_test = DATASET_SIZES[size]
        setting = FusionSetting.make(reliability=reliability, noise=noise, n_train=n_train, n_val=n_val,
                                     n_test=n_test, representations=reps)
        config = TrainConfig(**options)
        total = len(seeds) * (len(strategies) + 1)  # compare() logs one line per seed's data + one per strategy
        done = [0]

        def step(message: str) -> None:
            done[0] += 1
            progress(min(done[0] / total, 1.0), desc=message)

        progress(0.0, desc=locale.tr("fusion.progress_data"))
        report = compare(strategies, seeds, setting, progress=step, config=config, ablation=bool(ablation))
        table = {"headers": [locale.tr_text(h) for h in RESULT_HEADERS], "data": results_rows(report)}
        bars = plots.fusion_results_bars(report, unimodal=UNIMODAL)
        rob_headers, rob_rows = robustness_rows(report)
        rob_plot = plots.robustness_plot(report) if rob_rows else None
        chosen = [s for s in (report.best("fusion"), report.best("unimodal")) if s]
        roc = plots.roc_pr_figure(report, chosen)
        calibration = plots.calibration_figure(report, chosen)
        abl_plot = plots.ablation_figure(report) if report.ablation else None
        abl_table = {"headers": [locale.tr_text(h) for h in ABLATION_HEADERS], "data": ablation_rows(report)}
        gallery = error_gallery(report)
        cases = error_cases(report, k=1)
        best = report.best("fusion") or report.best("all")
        picker = gr.update(choices=_strategy_choices(report.models), value=best)
        index = gr.update(value=cases[0].index if cases else 0, maximum=len(report.labels[0]) - 1)
        bars, rob_plot, roc, calibration, abl_plot = map(locale.figure, (bars, rob_plot, roc, calibration, abl_plot))
        return (table, bars, rob_plot, {"headers": rob_headers, "data": rob_rows},
                summary_markdown(report, reliability, noise, size, reps), roc, calibration, abl_plot, abl_table,
                gallery, picker, index, report)


def fusion_sample(report: Any, index: float | None, strategy: str | None, word_method: str | None,
                  progress: gr.Progress = gr.Progress()) -> tuple:
    """The single-example view of test sample ``index`` (first seed) under ``strategy``: the
    contributions plot, the text's word attributions (HTML), the image, the audio and a summary."""
    from ..fusion.inspect import explain_sample
    import numpy as np

    from ..plots.fusion import contributions_figure

    with user_errors("explaining the sample"):
        if report is None:
            raise user_error("Run a comparison first: the single-example view explains its trained models.")
        if strategy not in getattr(report, "models", {}):
            raise user_error(f"Pick one of the compared strategies: {list(report.models)}.")
        if word_method not in (None, "", *WORD_METHODS):
            raise user_error(f"Unknown word attribution method {word_method!r}: choose from {list(WORD_METHODS)}.")
        try:
            i = int(index)
        except (TypeError, ValueError):
            raise user_error(f"The sample number must be a whole number, got {index!r}.") from None
        if i != index:
            raise user_error(f"The sample number must be a whole number, got {index!r}.")
        progress(0.2, desc=locale.tr("fusion.progress_words"))
        e = explain_sample(report, i, strategy, word_method=word_method or "occlusion")
        lines = [f"**Test sample #{e.index}** — true label **{e.label}**, `{e.strategy}` predicts **{e.predicted}** "
                 f"(p = {e.probabilities[e.predicted]:.2f})."]
        if e.cues:
            lines.append("What each modality's cue showed: " + ", ".join(f"{m} → {c}" for m, c in e.cues.items()))
        if e.gate_weights:
            lines.append("Gate weights a_i: " + ", ".join(f"{m} {w:.2f}" for m, w in e.gate_weights.items()))
        lines += [f"_{n}_" for n in e.notes]
        words = e.words.html() if e.words is not None else locale.tr("fusion.no_text_attr")
        image = e.image if isinstance(e.image, np.ndarray) else (str(e.image) if e.image is not None else None)
        audio = None
        if e.audio is not None:  # int16 PCM, as a browser plays it (gradio would convert float32 with a warning)
            audio = (8000, (np.clip(np.asarray(e.audio, np.float32), -1, 1) * 32767).astype(np.int16))
        return locale.figure(contributions_figure(e)), words, image, audio, "\n\n".join(locale.tr_text(line) for line in lines)


# -- layout ---------------------------------------------------------------------------------------------
#: Example settings: (strategies, reliability changes, noise); one seed, the small dataset (seconds each).
EXAMPLE_SETTINGS: tuple[tuple[tuple[str, ...], dict[str, float], float | None], ...] = (
    (("text", "image", "audio", "concat", "late_average", "gated"), {}, None),
    (("text", "image", "audio", "concat", "gated", "late_learned"), {"image": 0.4}, None),
    (("text", "image", "audio", "concat", "gated", "attention", "tfn"), {}, 0.6),
)


def _examples(strategies: Any, n_seeds: Any, sliders: list, noise: Any, size: Any, reliability: dict,
              default_noise: float) -> None:
    rows = [[list(chosen), 1, *[changes.get(m, reliability[m]) for m in MODALITY_NAMES],
             default_noise if noise_value is None else noise_value, DEFAULT_SIZE]
            for chosen, changes, noise_value in EXAMPLE_SETTINGS]
    gr.Examples(rows, inputs=[strategies, n_seeds, *sliders, noise, size], cache_examples=False,
                example_labels=["a quick comparison", "an unreliable image cue", "noisy cues"],
                label=T("fusion.examples"), elem_id="fusion-examples")


def build_fusion_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    from ..data.sentiment import DEFAULT_NOISE, DEFAULT_RELIABILITY  # numpy only, no torch

    gr.Markdown(INTRO)
    with gr.Accordion(T("fusion.the_fusion_strategies_formulas"), open=False):
        gr.Markdown(FORMULAS)
    with gr.Accordion(T("fusion.use_real_data_cmu"), open=False):
        gr.Markdown(REAL_DATA, elem_id="fusion-real-data")
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            strategies = gr.CheckboxGroup(_strategy_choices(STRATEGY_CHOICES), value=list(STRATEGY_CHOICES), label=T("fusion.strategies"),
                                          info=T("fusion.text_image_audio_are"),
                                          elem_id="fusion-strategies")
            n_seeds = NamedRangeSlider(1, MAX_SEEDS, value=1, step=1, label=T("fusion.seeds"),
                                info=T("fusion.each_seed_is_a"),
                                elem_id="fusion-seeds")
            size = gr.Radio([(locale.text(f"fusion.size_{name}"), name) for name in DATASET_SIZES],
                            value=DEFAULT_SIZE, label=T("fusion.dataset_size"), elem_id="fusion-size")
        with gr.Column(scale=1, min_width=280):
            sliders = [NamedRangeSlider(0.0, 1.0, value=DEFAULT_RELIABILITY[m], step=0.01, label=T(f"fusion.reliability_{m}"),
                                 info=T("fusion.reliability_info") if m == "text" else None,
                                 elem_id=f"fusion-reliability-{m}")
                       for m in MODALITY_NAMES]
            noise = NamedRangeSlider(0.0, 1.0, value=DEFAULT_NOISE["text"], step=0.05, label=T("fusion.noise_all_modalities"),
                              info=T("fusion.0_crisp_cues_1"), elem_id="fusion-noise")
        with gr.Column(scale=1, min_width=280):
            reps = [gr.Dropdown([(_rep_label(m, r, label), r) for label, r in REPRESENTATION_CHOICES[m]],
                                value=DEFAULT_REPRESENTATIONS[m], label=T(f"fusion.representation_{m}"), elem_id=f"fusion-representation-{m}")
                    for m in MODALITY_NAMES]
            with gr.Accordion(T("fusion.training_options"), open=False):
                multitask = gr.Checkbox(False, label=T("fusion.multi_task_loss_auxiliary"),
                                        elem_id="fusion-multitask")
                aux_weight = NamedRangeSlider(0.0, 2.0, value=0.5, step=0.05, label=T("fusion.auxiliary_loss_weight_wm"),
                                              elem_id="fusion-aux-weight")
                dropout = NamedRangeSlider(0.0, 0.9, value=0.0, step=0.05, label=T("fusion.modality_dropout_p"),
                                           info=T("fusion.p_a_training_sample"), elem_id="fusion-dropout")
                ablation = gr.Checkbox(False, label=T("fusion.modality_ablation_retrain_every"), elem_id="fusion-ablation")
    with gr.Row():
        run = gr.Button(T("fusion.run_comparison"), variant="primary", elem_id="fusion-run", scale=3)
        halt = gr.Button(T("fusion.stop"), variant="stop", elem_id="fusion-stop", scale=1)
    message = common.action_message("fusion-message")
    hint = gr.Markdown("", elem_id="fusion-time-hint")  # filled on load, in the user's language
    _examples(strategies, n_seeds, sliders, noise, size, DEFAULT_RELIABILITY, DEFAULT_NOISE["text"])
    summary = gr.Markdown(elem_id="fusion-summary")
    results = gr.Dataframe(headers=RESULT_HEADERS, interactive=False, label=T("fusion.results_best_first"),
                           elem_id="fusion-results")
    with gr.Row(equal_height=False):
        bars = gr.Plot(label=T("fusion.macro_f1_per_strategy"), format="png", elem_id="fusion-bars")
        rob_plot = gr.Plot(label=T("fusion.robustness_to_a_missing"), format="png", elem_id="fusion-robustness-plot")
    robustness = gr.Dataframe(interactive=False, label=T("fusion.robustness_macro_f1_with"),
                              elem_id="fusion-robustness")
    with gr.Row(equal_height=False):
        roc = gr.Plot(label=T("fusion.roc_and_precision_recall"), format="png",
                      elem_id="fusion-roc")
        calibration = gr.Plot(label=T("fusion.calibration"), format="png", elem_id="fusion-calibration")
    with gr.Row(equal_height=False):
        abl_plot = gr.Plot(label=T("fusion.modality_ablation"), format="png", elem_id="fusion-ablation-plot")
        abl_table = gr.Dataframe(headers=ABLATION_HEADERS, interactive=False,
                                 label=T("fusion.modality_ablation_macro_f1"),
                                 elem_id="fusion-ablation-table")
    errors = gr.Gallery(label=T("fusion.error_cases_of_the"), columns=2,
                        height=420, format="png", interactive=False, elem_id="fusion-errors")
    gr.Markdown(T("fusion.single_example_how_did"))
    with gr.Row(equal_height=False):
        sample = gr.Number(value=0, precision=0, minimum=0, label=T("fusion.test_sample"), elem_id="fusion-sample-index")
        sample_strategy = gr.Dropdown(_strategy_choices(STRATEGY_CHOICES), value="gated", label=T("fusion.strategy"),
                                      info=T("fusion.one_of_the_strategies"), elem_id="fusion-sample-strategy")
        word_method = gr.Radio([(locale.text(f"fusion.word_{m}"), m) for m in WORD_METHODS], value="occlusion", label=T("fusion.word_attributions"),
                               info=T("fusion.integratedgradients_needs_the_minilm"),
                               elem_id="fusion-word-method")
        explain_btn = gr.Button(T("fusion.explain_this_sample"), elem_id="fusion-sample-run")
    sample_message = common.action_message("fusion-sample-message")
    sample_info = gr.Markdown(elem_id="fusion-sample-info")
    with gr.Row(equal_height=False):
        contributions = gr.Plot(label=T("fusion.contributions"), format="png", elem_id="fusion-contributions")
        with gr.Column():
            words = gr.HTML(label=T("fusion.word_attributions"), elem_id="fusion-words")
            with gr.Row():
                sample_image = gr.Image(label=T("fusion.image"), height=160, interactive=False, elem_id="fusion-sample-image")
                sample_audio = gr.Audio(label=T("fusion.audio"), interactive=False, elem_id="fusion-sample-audio")
    report_state = gr.State(None)

    hint_inputs = [strategies, n_seeds, size, *reps, ablation]
    for control in hint_inputs:
        control.change(time_hint, hint_inputs, [hint], api_visibility="private", queue=False)
    compare_event = run.click(fusion_compare, [strategies, n_seeds, *sliders, noise, size, *reps, multitask,
                                               aux_weight, dropout, ablation],
                              [results, bars, rob_plot, robustness, summary, roc, calibration, abl_plot, abl_table,
                               errors, sample_strategy, sample, report_state], api_name="fusion_compare",
                              concurrency_id="fusion", concurrency_limit=1)
    common.report_on(message, compare_event)
    halt.click(None, None, None, cancels=[compare_event], queue=False, api_visibility="private")
    common.report_on(sample_message,
                     explain_btn.click(fusion_sample, [report_state, sample, sample_strategy, word_method],
                                       [contributions, words, sample_image, sample_audio, sample_info],
                                       api_name="fusion_sample", concurrency_id="fusion", concurrency_limit=1))

    return TabParts(load_events=[common.LoadEvent(time_hint, hint_inputs, [hint])],
                    components={"strategies": strategies, "seeds": n_seeds, "size": size, "noise": noise,
                                "reliability": sliders, "results": results, "bars": bars,
                                "robustness_plot": rob_plot, "robustness": robustness, "summary": summary,
                                "representations": reps, "multitask": multitask, "aux_weight": aux_weight,
                                "modality_dropout": dropout, "ablation": ablation, "roc": roc,
                                "calibration": calibration, "ablation_plot": abl_plot, "ablation_table": abl_table,
                                "errors": errors, "sample": sample, "sample_strategy": sample_strategy,
                                "word_method": word_method, "contributions": contributions, "words": words,
                                "sample_image": sample_image, "sample_audio": sample_audio,
                                "sample_info": sample_info, "report": report_state})
