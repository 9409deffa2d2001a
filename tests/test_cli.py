"""The CLI contract: eval/bench print one JSON object as the last stdout line, with plain keys."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run_cli(*args: str, timeout: int = 600) -> tuple[dict, str]:
    proc = subprocess.run([sys.executable, "-m", "mmbench.cli", *args], capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    return json.loads(last), proc.stderr


def test_help_explains_the_commands():
    out = subprocess.run([sys.executable, "-m", "mmbench.cli", "--help"], capture_output=True, text=True).stdout
    for word in ("eval matching", "bench matching", "bench retrieval", "train tiny-clip", "JSON"):
        assert word in out


def test_models_lists_the_registry_as_json():
    data, _ = run_cli("models", "--json")
    names = {m["name"]: m for m in data["models"]}
    assert names["mmbench-tiny-clip"]["tier"] == "offline"
    assert names["openclip-vit-b-32"]["tier"] == "online"


def test_eval_matching_reports_plain_keys_on_a_fresh_seed():
    data, err = run_cli("eval", "matching", "--seed", "5", "--n-zero-shot", "60", "--n-gallery", "60",
                        "--n-binding", "40")
    for key in ("zero_shot_top1", "t2i_recall_at_1", "i2t_recall_at_1", "map", "binding_colour_swap",
                "binding_relation_flip"):
        assert 0.0 <= data[key] <= 1.0, key
    assert data["zero_shot_top1"] >= 0.85 and data["t2i_recall_at_1"] >= 0.8
    assert set(data["binding"]) == {"dual_encoder", "matching_head"}
    assert "zero-shot" in err  # progress goes to stderr


def test_bench_retrieval_compares_with_torch_and_exact_search():
    data, _ = run_cli("bench", "retrieval", "--n-items", "3000", "--dim", "64", "--queries", "20")
    assert data["n_items"] == 3000
    for key in ("ms_per_query", "torch_ms_per_query", "exact_ms_per_query", "recall_at_10"):
        assert key in data
    assert data["recall_at_10"] >= 0.95


def test_errors_are_messages_not_tracebacks():
    proc = subprocess.run([sys.executable, "-m", "mmbench.cli", "eval", "matching", "--model", "nope"],
                          capture_output=True, text=True)
    assert proc.returncode == 1
    assert "Unknown model 'nope'" in proc.stderr and "Traceback" not in proc.stderr



def test_a_bad_train_config_is_a_message_not_a_traceback():
    for config, expected in (('{"seed": 3}', "multiple values for keyword argument 'seed'"),
                             ('{"nope": 1}', "unexpected keyword argument 'nope'")):
        proc = subprocess.run([sys.executable, "-m", "mmbench.cli", "train", "tiny-clip", "--out", "/nonexistent",
                               "--config", config], capture_output=True, text=True)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr
        assert "Bad --config for tiny-clip" in proc.stderr and expected in proc.stderr


@pytest.mark.slow
def test_bench_matching_ratio():
    data, _ = run_cli("bench", "matching", "--repeats", "3", "--batch", "4")
    assert data["allclose"] and data["ratio"] < 1.2
