"""mmbench.plots (matching, fusion, shared figure helpers): the figures show exactly the numbers they
are given, and never touch pyplot."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from mmbench.plots import figures, fusion, matching
from mmbench.errors import InvalidInputError
from mmbench.pipelines.matching import ZeroShotResult


def _cell_texts(fig):
    ax = fig.axes[0]
    return {t.get_gid(): t for t in ax.texts if (t.get_gid() or "").startswith("cell-")}


def test_heatmap_annotates_every_cell_with_its_value():
    rng = np.random.default_rng(0)
    sim = rng.uniform(-1, 1, (3, 4))
    texts = ["a red circle", "a blue square", "a green ring", "a yellow cross"]
    fig = matching.similarity_heatmap(sim, texts, ["img a", "img b", "img c"], title="t")
    cells = _cell_texts(fig)
    assert len(cells) == 12
    for i in range(3):
        for j in range(4):
            assert float(cells[f"cell-{i}-{j}"].get_text()) == pytest.approx(sim[i, j], abs=0.005)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == texts
    assert [t.get_text() for t in ax.get_yticklabels()] == ["img a", "img b", "img c"]
    assert ax.get_title() == "t"
    # the image data is the matrix itself
    np.testing.assert_allclose(ax.images[0].get_array(), sim)


def test_heatmap_marks_each_rows_best_text_in_bold():
    sim = np.array([[0.1, 0.9, 0.2], [0.8, 0.3, 0.1]])
    cells = _cell_texts(matching.similarity_heatmap(sim, ["x", "y", "z"]))
    bold = sorted(gid for gid, t in cells.items() if t.get_fontweight() == "bold")
    assert bold == ["cell-0-1", "cell-1-0"]


def test_heatmap_truncates_long_texts_and_default_labels():
    long = "a " + "very " * 40 + "long caption"
    fig = matching.similarity_heatmap(np.zeros((2, 1)), [long])
    ax = fig.axes[0]
    label = ax.get_xticklabels()[0].get_text()
    assert label.endswith("…") and len(label) <= 32
    assert [t.get_text() for t in ax.get_yticklabels()] == ["image 1", "image 2"]


def test_heatmap_20x20_is_annotated_and_larger_is_not():
    assert len(_cell_texts(matching.similarity_heatmap(np.eye(20), [f"t{i}" for i in range(20)]))) == 400
    fig = matching.similarity_heatmap(np.eye(30), [f"t{i}" for i in range(30)])
    assert _cell_texts(fig) == {}
    w, h = fig.get_size_inches()
    assert w <= 16 and h <= 14


@pytest.mark.parametrize("sim, texts, labels", [
    (np.zeros((2, 3)), ["a", "b"], None),
    (np.zeros((2, 3)), ["a", "b", "c"], ["only one"]),
    (np.zeros(3), ["a", "b", "c"], None),
])
def test_heatmap_rejects_mismatched_inputs(sim, texts, labels):
    with pytest.raises(InvalidInputError):
        matching.similarity_heatmap(sim, texts, labels)


def test_zero_shot_bars_from_dict_sorted_and_top_k():
    scores = {"red circle": 0.1, "blue square": 0.6, "green ring": 0.25, "yellow cross": 0.05}
    fig = matching.zero_shot_bars(scores, top_k=3)
    ax = fig.axes[0]
    assert len(ax.patches) == 3
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.6, 0.25, 0.1])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["blue square", "green ring", "red circle"]
    assert "top 3 of 4" in ax.get_title()
    assert sorted(t.get_text() for t in ax.texts) == sorted(["60.0%", "25.0%", "10.0%"])


def test_zero_shot_bars_from_result_object():
    result = ZeroShotResult(["cat", "dog"], np.array([0.9995, 0.0005]), {"dog": 0.0005, "cat": 0.9995})
    ax = matching.zero_shot_bars(result).axes[0]
    assert [p.get_width() for p in ax.patches] == pytest.approx([0.9995, 0.0005])
    assert [t.get_text() for t in ax.texts] == ["100.0%", "<0.1%"]


def test_zero_shot_bars_rejects_bad_input():
    with pytest.raises(InvalidInputError):
        matching.zero_shot_bars({})
    with pytest.raises(InvalidInputError):
        matching.zero_shot_bars([0.1, 0.9])
    with pytest.raises(InvalidInputError):
        matching.zero_shot_bars({"a": 1.0}, top_k=0)


def test_image_grid_and_figure_to_image():
    from PIL import Image

    images = [Image.new("RGB", (8, 8), c) for c in ("red", "green", "blue")] + [np.zeros((4, 4, 3), np.uint8)]
    fig = matching.image_grid(images, ["r", "g", "b", "k"], ncols=2)
    shown = [ax for ax in fig.axes if ax.images]
    assert len(shown) == 4
    assert [ax.get_title() for ax in shown] == ["r", "g", "b", "k"]
    png = figures.figure_to_image(fig)
    assert png.mode == "RGB" and png.size[0] > 100
    with pytest.raises(InvalidInputError):
        matching.image_grid(images, ["too few"])


def test_no_pyplot_state_and_thread_safe():
    """Figures are plain Figure objects: nothing registers with pyplot, threads can plot together."""
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figs, errors = [], []

    def work(seed):
        try:
            rng = np.random.default_rng(seed)
            fig = matching.similarity_heatmap(rng.random((4, 4)), list("abcd"))
            matching.zero_shot_bars(dict(zip("abcd", rng.random(4))))
            figures.figure_to_image(fig)
            figs.append(fig)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(figs) == 8
    assert plt.get_fignums() == before


class _Report:
    """The part of a FusionReport that the summary plots read."""

    seeds = [0, 1]

    def table(self):
        return [{"strategy": s, "macro_f1_mean": m, "macro_f1_std": 0.01}
                for s, m in (("text", 0.6), ("gated", 0.8), ("late", 0.7))]

    def robustness_table(self):
        return {"text": {"full": 0.6}, "gated": {"full": 0.8, "missing_text": 0.5}, "late": {"full": 0.7}}


def test_fusion_bars_grey_only_the_unimodal_names_passed_in():
    from matplotlib.colors import to_hex

    def colours(fig):
        return [to_hex(p.get_facecolor()) for p in fig.axes[0].patches]

    ax = fusion.fusion_results_bars(_Report(), unimodal=("text", "image", "audio")).axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["gated", "late", "text"]
    assert [to_hex(p.get_facecolor()) for p in ax.patches] == ["#ff7c00", "#6f8fbf", "#9a9a9a"]
    assert ax.get_title() == "Fusion strategies · 2 seeds · grey: unimodal"
    assert colours(fusion.fusion_results_bars(_Report())) == ["#ff7c00", "#6f8fbf", "#6f8fbf"]
    rob = fusion.robustness_plot(_Report()).axes[0]
    assert [t.get_text() for t in rob.get_xticklabels()] == ["gated"]
    with pytest.raises(InvalidInputError, match="no strategies"):
        fusion.fusion_results_bars(type("Empty", (), {"table": lambda self: []})())
