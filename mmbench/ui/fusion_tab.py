"""The "Fusion lab" tab: train fusion strategies on the procedural tri-modal sentiment data and compare them.

All the work is :func:`mmbench.fusion.lab.compare`; this module only checks the inputs, turns the
report into a table, two plots and a summary, and wires them to the ``fusion_compare`` endpoint.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from .common import TabParts, user_error, user_errors

TAB_TITLE = "Fusion lab"

#: Every strategy the lab knows, in the library's order (mirrors ``mmbench.fusion.strategies.STRATEGIES``;
#: kept as data here so building the app does not import torch).
STRATEGY_CHOICES: tuple[str, ...] = ("text", "image", "audio", "concat", "fc", "late_average", "late_product",
                                     "late_max", "late_learned", "gated", "tfn", "lmf", "attention")
UNIMODAL_CHOICES: tuple[str, ...] = ("text", "image", "audio")
MODALITY_NAMES: tuple[str, ...] = ("text", "image", "audio")
MAX_SEEDS = 3

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

INTRO = """\
Train several **fusion strategies** on the same procedural sentiment data (a review text, a face image
and a prosody clip per sample; label negative / neutral / positive) and compare them fairly: same
features, same training budget, same test split. Each modality's **reliability** is the probability that
its cue tells the truth; **noise** makes every cue harder to read. Lower one modality's reliability and
watch which strategies notice.
"""

FORMULAS = """\
With `x_m` the features of modality *m* and `h_m = ReLU(W_m x_m + b_m)` its learned encoding:

* **unimodal** (`text`, `image`, `audio`): `y = MLP(x_m)` — the baselines fusion has to beat.
* **concat** (early fusion): `h = [h_img; h_txt; h_aud]` is the concatenation of the features, `y = MLP(h)`.
  A missing modality is mean-imputed (a zero row).
* **fc** (deep fusion): `y = FC(ReLU(FC([h_text; h_image; h_audio])))` — a fully connected layer mixes the
  learned encodings.
* **gated**: one score per modality, `a_i = softmax_i(w^T h_i)`, then `h = Σ_i a_i h_i`, `y = FC(h)`. The gate
  weights `a_i` are computed *per sample*, so an unreadable modality can be down-weighted; the summary
  shows their test-set mean.
* **late fusion** (decision level): one classifier per modality, `y_m = MLP_m(x_m)`, combined by averaging
  probabilities (`late_average`), multiplying them (`late_product`), taking the max (`late_max`) or a
  learned weighting `S = Σ_m w_m y_m`, `w = softmax(v)` (`late_learned`, the chapter's `S = a S_v + b S_a`).
* **tfn** / **lmf**: outer product of `[h_m; 1]` (tensor fusion) and its low-rank factorisation.
* **attention**: the three encodings as tokens through one transformer layer.

Robustness: each fusion model is also scored with one modality removed at test time.
"""


def expected_seconds(n_strategies: int, n_seeds: int, size: str = DEFAULT_SIZE) -> float:
    """A rough CPU estimate of one comparison, shown next to the Run button."""
    n_samples = sum(DATASET_SIZES.get(size, DATASET_SIZES[DEFAULT_SIZE]))
    per_seed = _SECONDS_PER_1000_SAMPLES * n_samples / 1000 + _SECONDS_PER_STRATEGY * n_strategies
    return max(1, n_seeds) * per_seed


def time_hint(strategies: list[str] | None, n_seeds: float | None, size: str | None) -> str:
    """The "expected time" line under the Run button."""
    n, seeds = len(strategies or []), int(n_seeds or 1)
    secs = expected_seconds(n, seeds, size or DEFAULT_SIZE)
    return (f"Expected time: about **{secs:.0f} s** on a CPU ({n} strategies × {seeds} seed"
            f"{'s' if seeds != 1 else ''}, {size or DEFAULT_SIZE} dataset). Results for a setting are computed "
            "once; the data of a seed is cached.")


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
    try:
        seeds = int(n_seeds if n_seeds is not None else 1)
    except (TypeError, ValueError):
        raise user_error(f"The number of seeds must be a whole number from 1 to {MAX_SEEDS}, "
                         f"got {n_seeds!r}.") from None
    if not 1 <= seeds <= MAX_SEEDS:
        raise user_error(f"The number of seeds must be from 1 to {MAX_SEEDS}, got {seeds}.")
    rel: dict[str, float] = {}
    for m, value in reliability.items():
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise user_error(f"The reliability of {m} must be a number from 0 to 1, got {value!r}.") from None
        if not 0.0 <= v <= 1.0:
            raise user_error(f"The reliability of {m} must be between 0 and 1 (a probability), got {v:g}.")
        rel[m] = v
    try:
        noise_value = float(noise)
    except (TypeError, ValueError):
        raise user_error(f"The noise must be a number from 0 to 1, got {noise!r}.") from None
    if not 0.0 <= noise_value <= 1.0:
        raise user_error(f"The noise must be between 0 (crisp cues) and 1 (very hard to read), got {noise_value:g}.")
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


def summary_markdown(report: Any, reliability: dict[str, float], noise: float, size: str) -> str:
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
    setting = ", ".join(f"{m} {v:.2f}" for m, v in reliability.items())
    n_train, n_val, n_test = DATASET_SIZES[size]
    lines.append(f"_Setting: reliability {setting}; noise {noise:.2f}; {size} dataset ({n_train} train / "
                 f"{n_val} validation / {n_test} test per seed); seeds {s['seeds']}; took {s['wall_seconds']:.1f} s._")
    return "\n\n".join(lines)


# -- handler ------------------------------------------------------------------------------------------
def fusion_compare(strategies: list[str] | None, n_seeds: float | None, text_reliability: float,
                   image_reliability: float, audio_reliability: float, noise: float, size: str | None,
                   progress: gr.Progress = gr.Progress()) -> tuple[dict, Any, Any, dict, str]:
    """Train and score the chosen strategies; returns the results table, the macro-F1 bars, the
    robustness plot and table, and a markdown summary."""
    from .. import viz
    from ..fusion.lab import FusionSetting, compare

    with user_errors("comparing the fusion strategies"):
        reliability = {"text": text_reliability, "image": image_reliability, "audio": audio_reliability}
        strategies, seeds, reliability, noise, size = _check_inputs(strategies, n_seeds, reliability, noise, size)
        n_train, n_val, n_test = DATASET_SIZES[size]
        setting = FusionSetting.make(reliability=reliability, noise=noise, n_train=n_train, n_val=n_val,
                                     n_test=n_test)
        total = len(seeds) * (len(strategies) + 1)  # compare() logs one line per seed's data + one per strategy
        done = [0]

        def step(message: str) -> None:
            done[0] += 1
            progress(min(done[0] / total, 1.0), desc=message)

        progress(0.0, desc="Generating the data and features")
        report = compare(strategies, seeds, setting, progress=step)
        table = {"headers": RESULT_HEADERS, "data": results_rows(report)}
        bars = viz.fusion_results_bars(report)
        rob_headers, rob_rows = robustness_rows(report)
        rob_plot = viz.robustness_plot(report) if rob_rows else None
        return (table, bars, rob_plot, {"headers": rob_headers, "data": rob_rows},
                summary_markdown(report, reliability, noise, size))


# -- layout ---------------------------------------------------------------------------------------------
def build_fusion_tab() -> TabParts:
    """Lay out the tab and wire its events; call inside ``gr.Blocks`` / ``gr.Tab``."""
    from ..data.sentiment import DEFAULT_NOISE, DEFAULT_RELIABILITY  # numpy only, no torch

    gr.Markdown(INTRO)
    with gr.Accordion("The fusion strategies (formulas)", open=False):
        gr.Markdown(FORMULAS)
    with gr.Row(equal_height=False):
        with gr.Column(scale=1, min_width=280):
            strategies = gr.CheckboxGroup(list(STRATEGY_CHOICES), value=list(STRATEGY_CHOICES), label="Strategies",
                                          info="text / image / audio are the unimodal baselines.",
                                          elem_id="fusion-strategies")
            n_seeds = NamedRangeSlider(1, MAX_SEEDS, value=1, step=1, label="Seeds",
                                info="Each seed is a new dataset and a new initialisation; more seeds give the ± std.",
                                elem_id="fusion-seeds")
            size = gr.Radio([(f"{name} ({sum(n)} samples per seed)", name) for name, n in DATASET_SIZES.items()],
                            value=DEFAULT_SIZE, label="Dataset size", elem_id="fusion-size")
        with gr.Column(scale=1, min_width=280):
            sliders = [NamedRangeSlider(0.0, 1.0, value=DEFAULT_RELIABILITY[m], step=0.01, label=f"{m} reliability",
                                 info="P(this modality's cue equals the true label)" if m == "text" else None,
                                 elem_id=f"fusion-reliability-{m}")
                       for m in MODALITY_NAMES]
            noise = NamedRangeSlider(0.0, 1.0, value=DEFAULT_NOISE["text"], step=0.05, label="Noise (all modalities)",
                              info="0: crisp cues, 1: very hard to read", elem_id="fusion-noise")
    run = gr.Button("Run comparison", variant="primary", elem_id="fusion-run")
    hint = gr.Markdown(time_hint(list(STRATEGY_CHOICES), 1, DEFAULT_SIZE), elem_id="fusion-time-hint")
    summary = gr.Markdown(elem_id="fusion-summary")
    results = gr.Dataframe(headers=RESULT_HEADERS, interactive=False, label="Results (best first)",
                           elem_id="fusion-results")
    with gr.Row(equal_height=False):
        bars = gr.Plot(label="Macro-F1 per strategy", format="png", elem_id="fusion-bars")
        rob_plot = gr.Plot(label="Robustness to a missing modality", format="png", elem_id="fusion-robustness-plot")
    robustness = gr.Dataframe(interactive=False, label="Robustness: macro-F1 with a modality removed or noised",
                              elem_id="fusion-robustness")

    for control in (strategies, n_seeds, size):
        control.change(time_hint, [strategies, n_seeds, size], [hint], api_visibility="private", queue=False)
    run.click(fusion_compare, [strategies, n_seeds, *sliders, noise, size],
              [results, bars, rob_plot, robustness, summary], api_name="fusion_compare",
              concurrency_id="fusion", concurrency_limit=1)

    return TabParts(components={"strategies": strategies, "seeds": n_seeds, "size": size, "noise": noise,
                                "reliability": sliders, "results": results, "bars": bars,
                                "robustness_plot": rob_plot, "robustness": robustness, "summary": summary})
