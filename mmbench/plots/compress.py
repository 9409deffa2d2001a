"""The compression trade-off figure: size on disk vs CPU latency, coloured by the held-out metric."""

from __future__ import annotations

from typing import Any

from .figures import new_figure


def tradeoff_figure(table: dict, *, batch: int = 32, title: str | None = None) -> Any:
    """Scatter of one :func:`mmbench.benchmarks.compress_models.measure` table: x = size on disk (MB),
    y = median latency at ``batch`` (ms, with its inter-quartile range as an error bar), colour =
    the table's metric, one labelled point per method that ran (methods that do not apply are listed
    under the axes). Returns a pyplot-free matplotlib ``Figure``."""
    from matplotlib import cm, colormaps
    from matplotlib.colors import Normalize

    rows = table.get("rows", {})
    ok = {m: r for m, r in rows.items() if "error" not in r and f"ms_batch{batch}" in r}
    fig = new_figure(6.4, 4.2)
    ax = fig.add_subplot(1, 1, 1)
    metric = table.get("metric", "metric")
    if not ok:
        ax.text(0.5, 0.5, "no method ran", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
        return fig
    values = [r["metric"] for r in ok.values()]
    norm = Normalize(min(values) - 1e-9, max(values) + 1e-9)
    cmap = colormaps["viridis"]
    for method, r in ok.items():
        x, y = r["size_mb"], r[f"ms_batch{batch}"]
        lo, hi = r.get(f"ms_batch{batch}_iqr", [y, y])
        ax.errorbar([x], [y], yerr=[[max(0.0, y - lo)], [max(0.0, hi - y)]], fmt="none", ecolor="0.6", capsize=3)
        ax.scatter([x], [y], s=90, color=cmap(norm(r["metric"])), edgecolor="black", zorder=3,
                   marker="*" if method == "fp32" else "o")
        ax.annotate(f"{method}\n{r['metric']:.3g}", (x, y), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    ax.set_xlabel("size on disk (MB)")
    ax.set_ylabel(f"CPU latency at batch {batch} (ms, median, IQR bar)")
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0, right=max(r["size_mb"] for r in ok.values()) * 1.35)
    ax.grid(alpha=0.3)
    sm = cm.ScalarMappable(norm=norm, cmap=cmap)
    fig.colorbar(sm, ax=ax, label=metric.replace("_", " "))
    ax.set_title(title or f"{table.get('model', '')}: size vs latency vs {metric.replace('_', ' ')}", fontsize=10)
    skipped = [m for m in rows if m not in ok]
    if skipped:
        ax.text(0.0, -0.2, "not applicable: " + ", ".join(skipped), transform=ax.transAxes, fontsize=8, color="0.35")
    return fig
