"""The Compression tab's handlers, called directly (no browser): a real, small measurement of the tiny CLIP
and of a model whose int8 does not apply, the plot, and bad inputs as user messages."""

from __future__ import annotations

import gradio as gr
import pandas as pd
import pytest

from mmbench.ui import compression_tab as tab

pytestmark = pytest.mark.usefixtures("one_thread")


def _noop_progress(*_args, **_kwargs):
    return None


def test_measure_tiny_clip_from_the_tab():
    frame, figure, summary, raw = tab.run_measurement("mmbench-tiny-clip", ["int8-dynamic", "onnx"], 2,
                                                      progress=_noop_progress)
    assert isinstance(frame, pd.DataFrame) and list(frame["method"]) == ["fp32", "int8-dynamic", "onnx"]
    rows = raw["rows"]
    assert rows["fp32"]["metric"] >= 0.95 and rows["fp32"]["metric_original"] == rows["fp32"]["metric"]
    assert rows["int8-dynamic"]["size_mb"] < 0.4 * rows["fp32"]["size_mb"]
    assert abs(rows["onnx"]["metric"] - rows["fp32"]["metric"]) < 1e-9  # the same float32 graph
    for r in rows.values():
        assert r["ms_batch1"] > 0 and r["ms_batch32"] > r["ms_batch1"] * 0.5 and len(r["ms_batch32_iqr"]) == 2
    assert rows["fp32"]["speedup_batch32"] == 1.0 and rows["int8-dynamic"]["speedup_batch32"] > 0
    assert raw["runtime"]["allocator"] in ("default", "reuse") and "zero_shot_top1" in summary
    assert figure is not None and len(figure.axes) >= 1
    labels = [t.get_text() for t in figure.axes[0].texts]
    assert any(text.startswith("int8-dynamic") for text in labels)


def test_methods_that_do_not_apply_say_why():
    frame, figure, summary, raw = tab.run_measurement("mmbench-tiny-video", ["int8-dynamic", "bfloat16"], 1,
                                                      progress=_noop_progress)
    assert "convolutions" in raw["rows"]["int8-dynamic"]["error"]
    assert raw["rows"]["bfloat16"]["metric"] >= raw["rows"]["fp32"]["metric"] - 0.05
    assert "not applicable" in summary and "int8-dynamic" in summary
    assert frame.loc[frame["method"] == "int8-dynamic", "note"].item().startswith("The model has no nn.Linear")


@pytest.mark.parametrize("model, methods, rounds, message", [
    ("resnet-9000", ["onnx"], 2, "Unknown model"),
    ("mmbench-tiny-clip", ["int4-magic"], 2, "Unknown method"),
    ("mmbench-tiny-clip", ["onnx"], 0, "rounds"),
    ("mmbench-tiny-clip", ["onnx"], "many", "whole number"),
])
def test_bad_inputs_are_user_messages(model, methods, rounds, message):
    with pytest.raises(gr.Error, match=message):
        tab.run_measurement(model, methods, rounds, progress=_noop_progress)


def test_the_tab_is_in_the_app():
    from mmbench.ui.app import TABS

    assert any(spec.id == "compression" and spec.build is tab.build_compression_tab for spec in TABS)
