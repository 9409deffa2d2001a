"""Figures of a fusion comparison: macro-F1 bars per strategy, robustness to a missing modality, ROC
and precision-recall curves (one-vs-rest), the reliability diagram, the modality ablation, an error
case's three modalities, and one sample's per-modality contributions. Every function returns a
matplotlib ``Figure`` built without pyplot (safe in a multi-user web app)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InvalidInputError
from .figures import new_figure

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["ablation_figure", "calibration_figure", "contributions_figure", "error_case_figure",
           "fusion_results_bars", "robustness_plot", "roc_pr_figure"]

_COLOURS = ["#d6453d", "#7a7a7a", "#2a9d4b", "#3b6fb6", "#e39b2d", "#8a56b0", "#1aa3a3"]


# -- comparison summaries ---------------------------------------------------------------------
def fusion_results_bars(report: Any, title: str | None = None, *, unimodal: Collection[str] = ()) -> Figure:
    """Macro-F1 per strategy (mean over seeds, error bar = std), best on top; unimodal baselines grey.

    ``report``: a :class:`~mmbench.fusion.report.FusionReport` (or anything with its ``table()``).
    ``unimodal``: the names of the single-modality strategies (e.g. :data:`mmbench.fusion.UNIMODAL`),
    drawn grey; none by default.
    """
    unimodal = frozenset(unimodal)
    rows = sorted(report.table(), key=lambda r: -r["macro_f1_mean"])
    if not rows:
        raise InvalidInputError("The fusion report has no strategies to plot.")
    names = [r["strategy"] for r in rows]
    means = np.array([r["macro_f1_mean"] for r in rows])
    stds = np.array([r["macro_f1_std"] for r in rows])
    fig = new_figure(6.5, 1.2 + 0.36 * len(rows))
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    colours = ["#9a9a9a" if n in unimodal else ("#ff7c00" if i == 0 else "#6f8fbf") for i, n in enumerate(names)]
    ax.barh(y, means, xerr=stds, color=colours, height=0.7, capsize=3, error_kw={"elinewidth": 1})
    ax.set_yticks(y, names, fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, 1.1)
    ax.set_xlabel("macro-F1 (test; error bar: std over seeds)")
    for yi, (m, s) in enumerate(zip(means, stds)):
        ax.text(min(m + s, 1.0) + 0.01, yi, f"{m:.3f}", va="center", fontsize=8)
    n_seeds = len(getattr(report, "seeds", []) or [])
    grey = " · grey: unimodal" if unimodal & set(names) else ""
    ax.set_title(title or f"Fusion strategies · {n_seeds} seed{'s' if n_seeds != 1 else ''}{grey}", fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


def robustness_plot(report: Any, title: str | None = None) -> Figure:
    """Grouped bars: macro-F1 of each fusion strategy with all modalities and with each one removed."""
    table = {s: t for s, t in report.robustness_table().items() if any(k.startswith("missing_") for k in t)}
    if not table:
        raise InvalidInputError("No robustness results: select at least one fusion (multimodal) strategy.")
    strategies = sorted(table, key=lambda s: -table[s]["full"])
    conditions = ["full"] + sorted({k for t in table.values() for k in t if k.startswith("missing_")})
    fig = new_figure(max(5.5, 1.0 + 0.9 * len(strategies)), 3.6)
    ax = fig.add_subplot()
    x = np.arange(len(strategies))
    width = 0.8 / len(conditions)
    colours = ["#ff7c00", "#6f8fbf", "#8fbf6f", "#bf6f8f", "#9a9a9a"]
    for k, cond in enumerate(conditions):
        values = [table[s].get(cond, np.nan) for s in strategies]
        label = "all modalities" if cond == "full" else "without " + cond.removeprefix("missing_")
        ax.bar(x - 0.4 + width * (k + 0.5), values, width, label=label, color=colours[k % len(colours)])
    ax.set_xticks(x, strategies, fontsize=9, rotation=30 if len(strategies) > 5 else 0, ha="right"
                  if len(strategies) > 5 else "center")
    ax.set_ylim(0, 1.0)
    ax.set_ylabel("macro-F1 (test)")
    ax.legend(fontsize=8, ncols=len(conditions), loc="upper center", bbox_to_anchor=(0.5, -0.18 if len(strategies)
              <= 5 else -0.32), frameon=False)
    ax.set_title(title or "Robustness: macro-F1 when a modality is missing at test time", fontsize=11)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    return fig


# -- curves, ablation and single samples -------------------------------------------------------
def _strategies(report: Any, strategies: Sequence[str] | None) -> list[str]:
    chosen = list(strategies) if strategies else [s for s in (report.best("fusion"), report.best("unimodal")) if s]
    missing = [s for s in chosen if s not in report.probas]
    if missing or not chosen:
        raise InvalidInputError(f"No predictions for {missing or 'any strategy'} in this report.",
                                hint=f"It has {list(report.probas)}.")
    return chosen


def roc_pr_figure(report: Any, strategies: Sequence[str] | None = None) -> Any:
    """ROC (left) and precision-recall (right) curves, one-vs-rest per class, for ``strategies``
    (default: the best fusion and the best unimodal strategy); test samples of all seeds pooled."""
    chosen = _strategies(report, strategies)
    fig = new_figure(9.5, 3.8)
    roc_ax, pr_ax = fig.subplots(1, 2)
    styles = ["-", "--", ":", "-."]
    for k, s in enumerate(chosen):
        c = report.curves(s)
        for j, name in enumerate(c["roc"]):
            colour = _COLOURS[j % len(_COLOURS)]
            r, p = c["roc"][name], c["pr"][name]
            roc_ax.plot(r["fpr"], r["tpr"], styles[k % 4], color=colour, lw=1.3,
                        label=f"{s} · {name} (AUC {r['auc']:.2f})")
            pr_ax.plot(p["recall"], p["precision"], styles[k % 4], color=colour, lw=1.3,
                       label=f"{s} · {name} (AP {p['ap']:.2f})")
    roc_ax.plot([0, 1], [0, 1], color="k", lw=0.6, ls=":")
    roc_ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    roc_ax.set_title("ROC, one class vs the rest", fontsize=10)
    pr_ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    pr_ax.set_title("precision-recall, one class vs the rest", fontsize=10)
    roc_ax.legend(fontsize=6.5, loc="lower right", frameon=False)
    pr_ax.legend(fontsize=6.5, loc="lower left", frameon=False)
    return fig


def calibration_figure(report: Any, strategies: Sequence[str] | None = None) -> Any:
    """Reliability diagram: accuracy vs confidence per bin (the diagonal is perfect calibration), with
    the expected calibration error (ECE) of each strategy in the legend."""
    chosen = _strategies(report, strategies)
    fig = new_figure(4.8, 3.8)
    ax = fig.subplots()
    ax.plot([0, 1], [0, 1], color="k", lw=0.6, ls=":", label="perfectly calibrated")
    for k, s in enumerate(chosen):
        cal = report.curves(s)["calibration"]
        conf, acc, count = (np.asarray(cal[key], float) for key in ("confidence", "accuracy", "count"))
        keep = count > 0
        ax.plot(conf[keep], acc[keep], "o-", color=_COLOURS[(k + 3) % len(_COLOURS)], ms=3,
                label=f"{s} (ECE {cal['ece']:.3f})")
    ax.set(xlabel="confidence (probability of the predicted class)", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("calibration (reliability diagram)", fontsize=10)
    ax.legend(fontsize=7, loc="upper left", frameon=False)
    return fig


def ablation_figure(report: Any) -> Any:
    """Per strategy: macro-F1 with all modalities, retrained without each modality (solid), and the
    full model with that modality removed at test time (hatched)."""
    table = report.ablation_table()
    if not table:
        raise InvalidInputError("This report has no ablation: run compare(..., ablation=True).")
    strategies = list(table)
    mods = [m for m in report.modalities if any(f"without_{m}" in t for t in table.values())]
    fig = new_figure(max(5.5, 1.6 + 1.5 * len(strategies)), 3.8)
    ax = fig.subplots()
    x = np.arange(len(strategies))
    width = 0.8 / (1 + 2 * len(mods))
    ax.bar(x - 0.4 + width / 2, [table[s]["all"] for s in strategies], width, color="#ff7c00", label="all modalities")
    for k, m in enumerate(mods):
        colour = _COLOURS[(k + 3) % len(_COLOURS)]
        pos = x - 0.4 + width * (1.5 + 2 * k)
        ax.bar(pos, [table[s].get(f"without_{m}", np.nan) for s in strategies], width, color=colour,
               label=f"retrained without {m}")
        ax.bar(pos + width, [table[s].get(f"missing_{m}", np.nan) for s in strategies], width, color="white",
               edgecolor=colour, hatch="///", label=f"{m} removed at test time")
    ax.set_xticks(x, strategies)
    ax.set_ylim(0, 1)
    ax.set_ylabel("macro-F1 (test)")
    ax.set_title("modality ablation", fontsize=10)
    ax.legend(fontsize=7, ncols=2, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    return fig


def _spectrogram(audio: np.ndarray, sr: int = 8000) -> np.ndarray:
    from scipy.signal import stft

    _, _, z = stft(audio, fs=sr, nperseg=256, noverlap=192)
    power = np.abs(z[: z.shape[0] // 3]) ** 2  # 0 - 1.3 kHz: where the prosody lives
    return 10 * np.log10(power + 1e-10)


def error_case_figure(case: Any, sample_rate: int = 8000) -> Any:
    """One error case: the image, the audio's spectrogram, and the text with the true label, each
    modality's cue and every strategy's prediction (green right, red wrong)."""
    from PIL import Image

    fig = new_figure(7.2, 2.6)
    axes = fig.subplots(1, 3, width_ratios=[1, 1.3, 2.2])
    image = case.image
    if image is not None and not isinstance(image, np.ndarray):
        image = np.asarray(Image.open(image).convert("RGB"))
    for ax in axes:
        ax.set_axis_off()
    if image is not None:
        axes[0].imshow(image, interpolation="nearest")
        axes[0].set_title("image" + (f" (cue: {case.cues['image']})" if case.cues else ""), fontsize=8)
    if case.audio is not None:
        axes[1].imshow(_spectrogram(np.asarray(case.audio, float), sample_rate), origin="lower", aspect="auto",
                       cmap="magma")
        axes[1].set_title("audio" + (f" (cue: {case.cues['audio']})" if case.cues else ""), fontsize=8)
    import textwrap

    lines = textwrap.wrap(case.text or "(no text)", 46)[:4]
    axes[2].text(0, 1, "\n".join(lines), va="top", fontsize=8, family="serif", transform=axes[2].transAxes)
    y = 0.95 - 0.1 * (len(lines) + 1)
    head = f"true: {case.label}" + (f"   text cue: {case.cues['text']}" if case.cues else "")
    axes[2].text(0, y, head, va="top", fontsize=8, weight="bold", transform=axes[2].transAxes)
    for k, (s, p) in enumerate(case.predictions.items()):
        col, row = divmod(k, 5)
        axes[2].text(0.5 * col, y - 0.1 * (row + 1), f"{s}: {p}", va="top", fontsize=7.5,
                     color="#2a9d4b" if p == case.label else "#d6453d", transform=axes[2].transAxes)
    fig.suptitle(f"test sample #{case.index} (seed {case.seed})", fontsize=9)
    return fig


def contributions_figure(explanation: Any) -> Any:
    """One sample: class probabilities, per-modality logits (if the model has per-modality heads), gate
    weights ``a_i`` (gated fusion) and the leave-one-modality-out change of the predicted class."""
    e = explanation
    panels = ["probabilities"] + (["logits"] if e.modality_logits else []) + (["gates"] if e.gate_weights else []) + \
        (["loo"] if e.leave_one_out else [])
    fig = new_figure(2.6 * len(panels) + 0.5, 2.8)
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    classes = list(e.probabilities)
    for ax, panel in zip(axes, panels):
        if panel == "probabilities":
            ax.bar(classes, list(e.probabilities.values()), color=[_COLOURS[i % 7] for i in range(len(classes))])
            ax.set_ylim(0, 1)
            ax.set_title(f"{e.strategy}: P(class)\ntrue: {e.label}", fontsize=8)
        elif panel == "logits":
            mods = list(e.modality_logits)
            width = 0.8 / len(classes)
            for j, c in enumerate(classes):
                ax.bar(np.arange(len(mods)) - 0.4 + width * (j + 0.5), [e.modality_logits[m][c] for m in mods], width,
                       color=_COLOURS[j % 7], label=c)
            ax.set_xticks(range(len(mods)), mods)
            ax.axhline(0, color="k", lw=0.5)
            ax.legend(fontsize=6, frameon=False)
            ax.set_title("per-modality logits", fontsize=8)
        elif panel == "gates":
            ax.bar(list(e.gate_weights), list(e.gate_weights.values()), color="#3b6fb6")
            ax.set_ylim(0, 1)
            ax.set_title("gate weights $a_i$", fontsize=8)
        else:
            vals = list(e.leave_one_out.values())
            ax.bar(list(e.leave_one_out), vals, color=["#d6453d" if v < 0 else "#2a9d4b" for v in vals])
            ax.axhline(0, color="k", lw=0.5)
            ax.set_title(f"P({e.predicted}) change\nwhen the modality is removed", fontsize=8)
        ax.tick_params(labelsize=7)
    return fig
