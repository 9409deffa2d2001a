"""The "Fusion lab" tab, called through its ``fusion_compare`` endpoint with gradio_client as a user would."""

from __future__ import annotations

import pytest

gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402
from gradio_client.exceptions import AppError  # noqa: E402

from mmbench.data.sentiment import DEFAULT_NOISE, DEFAULT_RELIABILITY  # noqa: E402


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def compare(client, strategies, seeds=1, reliability=None, noise=None, size="small"):
    rel = {**DEFAULT_RELIABILITY, **(reliability or {})}
    return client.predict(strategies, seeds, rel["text"], rel["image"], rel["audio"],
                          DEFAULT_NOISE["text"] if noise is None else noise, size, api_name="/fusion_compare")


def test_strategy_choices_mirror_the_library():
    from mmbench.fusion.strategies import STRATEGIES, UNIMODAL
    from mmbench.ui.fusion_tab import STRATEGY_CHOICES, UNIMODAL_CHOICES

    assert list(STRATEGY_CHOICES) == list(STRATEGIES)
    assert UNIMODAL_CHOICES == UNIMODAL


def test_endpoint_is_documented(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/fusion_compare" in named


def test_fusion_beats_the_unimodal_baseline(client):
    table, bars, rob_plot, robustness, summary = compare(client, ["text", "concat", "gated"])
    rows = {row[table["headers"].index("strategy")]: row for row in table["data"]}
    assert set(rows) == {"text", "concat", "gated"}
    f1 = {s: row[table["headers"].index("macro-F1")] for s, row in rows.items()}
    acc = {s: row[table["headers"].index("accuracy")] for s, row in rows.items()}
    assert all(0.0 <= v <= 1.0 for v in [*f1.values(), *acc.values()])
    assert f1["concat"] > f1["text"] and f1["gated"] > f1["text"]
    assert [row[0] for row in table["data"]] == [1, 2, 3]  # ranked, best first
    assert table["data"][-1][1] == "text"
    assert bars["type"] == "matplotlib" and rob_plot["type"] == "matplotlib"
    assert {row[0] for row in robustness["data"]} == {"concat", "gated"}  # fusion strategies only
    for row in robustness["data"]:
        assert all(0.0 <= v <= 1.0 for v in row[1:] if v is not None)
    assert "Best fusion strategy" in summary and "`text`" in summary and "Gain" in summary


def test_no_strategy_is_a_clear_error(client):
    with pytest.raises(AppError, match="No strategy selected"):
        compare(client, [])


def test_reliability_outside_the_range_is_a_clear_error(client):
    with pytest.raises(AppError, match="reliability of image must be between 0 and 1"):
        compare(client, ["concat"], reliability={"image": 1.5})


def test_noise_and_seeds_outside_the_range_are_clear_errors(client):
    with pytest.raises(AppError, match="noise must be between 0"):
        compare(client, ["concat"], noise=-0.1)
    with pytest.raises(AppError, match="number of seeds must be from 1 to 3"):
        compare(client, ["concat"], seeds=7)
