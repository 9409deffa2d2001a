"""The figures the web app draws speak the page's language: titles, axis labels, legends and notes of
``mmbench/plots`` come from the catalogue's ``plots`` namespace (``mmbench.plots.figures.localise``),
drawn with an installed Chinese font; data (tick labels, a user's class names) stay as they are; without a
Chinese font the figure stays English instead of showing boxes."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import numpy as np
import pytest

from mmbench import i18n
from mmbench.plots import figures

PLOTS = Path(figures.__file__).parent
HAN = re.compile(r"[\u4e00-\u9fff]")

#: Figure texts made only of names and numbers (a strategy, a class, a metric value), and one title too
#: short to be a template (``face {n}: {expression}``: the expression is the model's output).
NAMES_ONLY = {"X0y (ECE X2y)", "X0y · X2y (AUC X4y)", "face X1y: X3y"}


def _sample(node):
    """A string literal or f-string with each ``{field}`` replaced by ``X<n>y`` (the default of ``a or b``)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else f"X{i}y" for i, v in enumerate(node.values))
    if isinstance(node, ast.BoolOp):
        return _sample(node.values[-1])
    return None


def test_every_figure_text_in_the_plots_is_in_the_catalogue():
    missing = []
    for path in sorted(PLOTS.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            texts = []
            if name in ("set_title", "set_xlabel", "set_ylabel", "suptitle", "text") and node.args:
                texts.append(_sample(node.args[2] if name == "text" and len(node.args) > 2 else node.args[0]))
            texts += [_sample(kw.value) for kw in node.keywords if kw.arg in ("label", "xlabel", "ylabel", "title")]
            for text in texts:
                if not text or text in NAMES_ONLY or not re.search(r"[A-Za-z]{3,}", re.sub(r"X\d+y", "", text)):
                    continue
                if re.search(r"X\d+yX\d+y|seedX", text):  # a plural or suffix chosen in code: its variants are checked below
                    continue
                if i18n.translate_message(text, "zh", namespace="plots") == text:
                    missing.append(f"{path.name}:{node.lineno} {text!r}")
    assert not missing, "add to mmbench/i18n/plots.py:\n" + "\n".join(missing)


@pytest.mark.parametrize("english, chinese", [
    ("Fusion strategies · 3 seeds · grey: unimodal", "融合策略 · 3 个随机种子 · 灰色：单模态"),
    ("Fusion strategies · 1 seed", "融合策略 · 1 个随机种子"),
    ("without audio", "去掉音频"),
    ("text removed at test time", "测试时去掉文本"),
    ("mel spectrogram (dB) · word timings", "梅尔频谱图（dB）· 词的时间位置"),
    ("2.50 s at 16000 Hz (first 30 s shown)", "2.50 秒，采样率 16000 Hz（只显示前 30 秒）"),
    ("P(happy) change\nwhen the modality is removed", "去掉该模态时\nP(happy) 的变化"),
])
def test_figure_templates_fill_their_fields(english, chinese):
    assert i18n.translate_message(english, "zh", namespace="plots") == chinese
    assert i18n.translate_message(english, "en", namespace="plots") == english


def test_a_namespace_never_translates_a_users_word():
    assert i18n.translate_message("image", "zh") == "图像"  # the catalogue knows the word...
    assert i18n.translate_message("cat", "zh", namespace="plots") == "cat"
    assert i18n.translate_message("No query was given.", "zh", namespace="plots") == "No query was given."


def _texts(fig):
    from matplotlib.text import Text

    ticks = {id(t) for ax in fig.axes for axis in (ax.xaxis, ax.yaxis)
             for tick in (*axis.get_major_ticks(), *axis.get_minor_ticks()) for t in (tick.label1, tick.label2)}
    labels = [t for t in fig.findobj(Text) if t.get_text() and id(t) not in ticks]
    tick_texts = [t.get_text() for t in fig.findobj(Text) if t.get_text() and id(t) in ticks and t.get_visible()]
    return labels, tick_texts


def _app_figures():
    from mmbench.plots.audio import audio_views
    from mmbench.plots.matching import similarity_heatmap, zero_shot_bars
    from mmbench.plots.monitoring import drift_pvalues_figure, request_series_figure

    rate = 16000
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(rate) / rate)).astype(np.float32)
    return {
        "zero-shot": zero_shot_bars({"猫": 0.6, "image": 0.3, "dog": 0.1}),
        "similarity": similarity_heatmap(np.array([[0.3, 0.1], [0.05, 0.25]]), ["a cat", "a dog"], ["a.png", "b.png"]),
        "drift": drift_pvalues_figure({"windows": [0, 1, 2, 3], "p_values": [0.5, 0.3, 0.001, 0.0001],
                                       "drift": [False, False, True, True], "alpha": 0.01, "drift_started_window": 2,
                                       "segments": [{"shift": "blur", "first_window": 2, "last_window": 3}]}),
        "requests (empty)": request_series_figure({"time": [], "tasks": {}}),
        "requests": request_series_figure({"time": [0.0, 1.0, 2.0], "tasks": {
            "image-text-matching": {"requests": [2, 3], "errors": [0, 1], "latency_ms": [12.0, 15.0]}}}),
        "audio views": audio_views((rate, tone), max_seconds=30.0),
    }


def test_app_figures_in_chinese_have_no_english_label_and_keep_their_data():
    font = figures.cjk_font()
    if font is None:
        pytest.skip("no Chinese font installed (Debian: fonts-wqy-zenhei or fonts-noto-cjk)")
    for name, fig in _app_figures().items():
        _, ticks_before = _texts(fig)
        figures.localise(fig, "zh")
        labels, ticks_after = _texts(fig)
        assert ticks_after == ticks_before, name  # data stay as they are
        for text in labels:
            value = text.get_text()
            leftover = re.sub(r"\b(?:Hz|dB|ms|MFCC|c0|p|α|blur)\b|[A-Za-z]+[-_.][\w.-]+", " ", value)
            assert not re.search(r"[A-Za-z]{3,}", leftover), f"{name}: {value!r} is still English"
            if HAN.search(value):
                assert text.get_fontfamily()[0] == font, (name, value)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            png = figures.figure_png(fig)
        assert png.startswith(b"\x89PNG")
        assert not [w for w in caught if "missing from font" in str(w.message)], (name, [str(w.message) for w in caught])
    assert "猫" in _texts(figures.localise(_app_figures()["zero-shot"], "en"))[1]  # a user's Chinese label


def test_without_a_chinese_font_figures_stay_english(monkeypatch):
    monkeypatch.setattr(figures, "cjk_font", lambda: None)
    for name, fig in _app_figures().items():
        before = [t.get_text() for t in _texts(fig)[0]]
        figures.localise(fig, "zh")
        after = [t.get_text() for t in _texts(fig)[0]]
        assert after == before, name
        assert not any(HAN.search(t) for t in after), name


def test_english_figures_are_unchanged():
    for name, fig in _app_figures().items():
        before = [t.get_text() for t in _texts(fig)[0]]
        assert [t.get_text() for t in _texts(figures.localise(fig, "en"))[0]] == before, name


def test_a_handler_draws_in_the_request_language(monkeypatch):
    from mmbench.plots.matching import zero_shot_bars
    from mmbench.ui import locale

    if figures.cjk_font() is None:
        pytest.skip("no Chinese font installed (Debian: fonts-wqy-zenhei or fonts-noto-cjk)")
    monkeypatch.setattr(locale, "lang", lambda: "zh")
    fig = locale.figure(zero_shot_bars({"cat": 0.7, "dog": 0.3}))
    assert fig.axes[0].get_xlabel() == "概率" and fig.axes[0].get_title() == "零样本概率"
    assert locale.figure(None) is None
