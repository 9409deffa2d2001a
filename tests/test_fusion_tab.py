"""The "Fusion lab" tab, called through its ``fusion_compare`` endpoint with gradio_client as a user would."""

from __future__ import annotations

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from mmbench.data.sentiment import DEFAULT_NOISE, DEFAULT_RELIABILITY


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False)


def compare(client, strategies, seeds=1, reliability=None, noise=None, size="small", **options):
    rel = {**DEFAULT_RELIABILITY, **(reliability or {})}
    return client.predict(strategies, seeds, rel["text"], rel["image"], rel["audio"],
                          DEFAULT_NOISE["text"] if noise is None else noise, size, **options,
                          api_name="/fusion_compare")


@pytest.fixture(scope="module")
def first_run(client):
    """One comparison shared by the tests that read its outputs (and the session's report state)."""
    return compare(client, ["text", "concat", "gated"])


def test_strategy_choices_mirror_the_library():
    from mmbench.models.fusion_strategies import STRATEGIES, UNIMODAL
    from mmbench.ui.fusion_tab import STRATEGY_CHOICES, UNIMODAL_CHOICES

    assert list(STRATEGY_CHOICES) == list(STRATEGIES)
    assert UNIMODAL_CHOICES == UNIMODAL


def test_endpoint_is_documented(client):
    named = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert "/fusion_compare" in named


def test_fusion_beats_the_unimodal_baseline(first_run):
    table, bars, rob_plot, robustness, summary = first_run[:5]
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


def test_representation_choices_mirror_the_library():
    from mmbench.fusion.representations import DEFAULT_REPRESENTATIONS, REPRESENTATIONS
    from mmbench.ui.fusion_tab import DEFAULT_REPRESENTATIONS as UI_DEFAULTS
    from mmbench.ui.fusion_tab import REPRESENTATION_CHOICES

    assert {m: [v for _, v in c] for m, c in REPRESENTATION_CHOICES.items()} == \
        {m: list(r) for m, r in REPRESENTATIONS.items()}
    assert UI_DEFAULTS == DEFAULT_REPRESENTATIONS


def test_curves_calibration_errors_and_the_single_example_view(client, first_run):
    roc, calibration, abl_plot, abl_table, errors, picker, index = first_run[5:12]
    assert roc["type"] == "matplotlib" and calibration["type"] == "matplotlib"
    assert abl_plot is None and abl_table["data"] == []  # no ablation asked for
    assert 1 <= len(errors) <= 8 and all("true" in e["caption"] for e in errors)
    assert picker["value"] == "concat" or picker["value"] == "gated"
    first_error = index["value"]
    assert f"#{first_error}:" in errors[0]["caption"]
    # the same client session keeps the report: explain its first error case
    plot, words, image, audio, info = client.predict(first_error, "gated", "occlusion", api_name="/fusion_sample")
    assert plot["type"] == "matplotlib" and "mmbench-word-attribution" in words
    assert image is not None and audio is not None
    assert f"#{first_error}" in info and "Gate weights" in info


def test_ablation_and_training_options_through_the_endpoint(client):
    out = compare(client, ["audio", "gated"], multitask=True, aux_weight=0.5, modality_dropout=0.2, ablation=True)
    abl_plot, abl_table = out[7], out[8]
    assert abl_plot["type"] == "matplotlib"
    row = abl_table["data"][0]
    assert row[0] == "gated" and all(0 <= v <= 1 for v in row[1:] if v is not None)
    assert "Ablation" in out[4]
    _, _, _, _, info = client.predict(0, "gated", "occlusion", api_name="/fusion_sample")
    assert "no per-modality heads" not in info  # multitask gives per-modality logits


def test_single_example_without_a_run_and_bad_options_are_clear_errors(app_url):
    fresh = Client(app_url, verbose=False)  # a new session: no report yet
    with pytest.raises(AppError, match="Run a comparison first"):
        fresh.predict(0, "gated", "occlusion", api_name="/fusion_sample")
    with pytest.raises(AppError, match="word2vec is not in the list of choices"):  # gradio checks dropdowns
        compare(fresh, ["concat"], text_rep="word2vec")
    with pytest.raises(AppError, match="modality dropout must be between 0 and 0.9"):
        compare(fresh, ["concat"], modality_dropout=1.5)
