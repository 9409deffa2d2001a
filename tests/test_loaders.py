"""Real-data loaders on small fixtures written in the public formats: MMSA/MultiBench pickles, MVSA folders."""

from __future__ import annotations

import pickle
import warnings

import numpy as np
import pytest
from PIL import Image

from mmbench.data.datasets import MultimodalDataset, lab_splits
from mmbench.data.mosi import load_mosi, mosi_classes
from mmbench.data.mvsa import load_mvsa
from mmbench.errors import InvalidInputError

DIMS = {"text": 8, "vision": 5, "audio": 4}
# one score per class boundary case: -3, -0.6, -0.5, 0, 0.5, 0.6, 3 (3-class: neg, neg, neu, neu, neu, pos, pos)
SCORES = np.array([-3.0, -0.6, -0.5, 0.0, 0.5, 0.6, 3.0, -1.2, 1.4, 0.2])


def _split(n: int, rng, scores=None, t: int = 6, mmsa: bool = True) -> dict:
    part = {m: rng.normal(size=(n, t, d)).astype(np.float32) for m, d in DIMS.items()}
    for m in DIMS:  # zero-pad the first two steps of every sample, as aligned MMSA sequences are padded
        part[m][:, :2] = 0.0
    scores = SCORES[:n] if scores is None else scores
    if mmsa:
        part["regression_labels"] = scores.astype(np.float32)
        part["classification_labels"] = (np.round(np.clip(scores, -1, 1)) + 1).astype(np.float32)
        part["id"] = np.array([f"vid{i}$_$clip{i}" for i in range(n)], dtype=object)
        part["raw_text"] = np.array([f"sentence {i}" for i in range(n)], dtype=object)
    else:  # MultiBench: labels (N, 1, 1), no ids
        part["labels"] = scores.reshape(n, 1, 1).astype(np.float32)
    return part


def _write(path, data) -> str:
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return str(path)


@pytest.fixture
def mosi_pkl(tmp_path):
    rng = np.random.default_rng(0)
    data = {"train": _split(10, rng), "valid": _split(10, rng), "test": _split(10, rng)}
    return _write(tmp_path / "aligned_50.pkl", data), data


# -- CMU-MOSI / MOSEI --------------------------------------------------------------------------------------------
def test_mosi_round_trip_shapes_labels_ids_and_pooling(mosi_pkl):
    path, data = mosi_pkl
    ds = load_mosi(path, split="test")
    assert isinstance(ds, MultimodalDataset) and len(ds) == 10 and ds.split == "test"
    assert {m: x.shape for m, x in ds.features.items()} == {m: (10, d) for m, d in DIMS.items()}
    assert ds.label_names == ("negative", "neutral", "positive")
    assert ds.labels.tolist() == [0, 0, 1, 1, 1, 2, 2, 0, 2, 1]  # MMSA Mult_acc_3: round(clip(s, -1, 1))
    assert ds.ids == [f"vid{i}$_$clip{i}" for i in range(10)]
    assert ds.texts == [f"sentence {i}" for i in range(10)]
    np.testing.assert_allclose(ds.scores, SCORES, rtol=1e-6)
    # mean over the 4 non-padded steps only
    np.testing.assert_allclose(ds.features["audio"], data["test"]["audio"][:, 2:].mean(axis=1), rtol=1e-5)
    assert load_mosi(path, split="val").split == "valid"


def test_mosi_label_schemes_and_lengths(tmp_path):
    rng = np.random.default_rng(1)
    part = _split(10, rng)
    part["audio_lengths"] = np.full(10, 3)  # MMSA unaligned: valid steps are the first 3 (two of them zero here)
    path = _write(tmp_path / "unaligned_50.pkl", {"train": part})
    two = load_mosi(path, labels="2class")
    assert two.label_names == ("negative", "positive") and len(two) == 9  # the score 0.0 is dropped
    assert two.labels.tolist() == [0, 0, 0, 1, 1, 1, 0, 1, 1]
    assert "vid3$_$clip3" not in two.ids
    with pytest.warns(UserWarning, match=r"\['-2', '2'\]"):  # no score rounds to -2 or 2 here
        seven = load_mosi(path, labels="7class")
    assert seven.labels.tolist() == [0, 2, 3, 3, 3, 4, 6, 2, 4, 3]
    np.testing.assert_allclose(two.features["audio"][0], part["audio"][0, :3].mean(axis=0), rtol=1e-5)
    labels, names, keep = mosi_classes(np.array([-0.51, 0.51]))
    assert labels.tolist() == [0, 2] and keep.all()


def test_multibench_layout(tmp_path):
    rng = np.random.default_rng(2)
    path = _write(tmp_path / "mosi_data.pkl", {"train": _split(10, rng, mmsa=False)})
    ds = load_mosi(path)
    assert ds.ids == [str(i) for i in range(10)] and ds.labels.tolist()[:3] == [0, 0, 1] and ds.texts is None


def test_lab_adapter_feeds_the_fusion_lab(mosi_pkl):
    from mmbench.fusion.training import TrainConfig, predict_proba, train_strategy
    from mmbench.metrics import classification_metrics

    path, _ = mosi_pkl
    data = lab_splits(*(load_mosi(path, split=s) for s in ("train", "valid", "test")))
    xtr, ytr = data["train"]
    np.testing.assert_allclose(xtr["text"].mean(axis=0), 0, atol=1e-5)
    model = train_strategy("concat", data["train"], data["val"], config=TrainConfig(max_epochs=5))
    metrics = classification_metrics(data["test"][1], predict_proba(model, data["test"][0]))
    assert 0.0 <= metrics["macro_f1"] <= 1.0


# -- MOSI bad inputs ---------------------------------------------------------------------------------------------
def _raises(match, fn, *args, **kwargs):
    with pytest.raises(InvalidInputError, match=match) as info:
        fn(*args, **kwargs)
    return str(info.value)


def test_mosi_missing_and_unreadable_files(tmp_path):
    msg = _raises("was not found", load_mosi, tmp_path / "nope.pkl")
    assert "MMSA" in msg and "MultiBench" in msg  # says how to get the data
    bad = tmp_path / "aligned_50.pkl"
    bad.write_bytes(b"this is not a pickle")
    assert "download" in _raises("cannot be read", load_mosi, bad)
    _raises("folder", load_mosi, tmp_path)
    _raises("not a dict of splits", load_mosi, _write(tmp_path / "list.pkl", [1, 2, 3]))


def test_mosi_wrong_keys_list_the_expected_ones(tmp_path):
    rng = np.random.default_rng(3)
    part = _split(10, rng)
    del part["vision"], part["regression_labels"]
    msg = _raises("lacks the key", load_mosi, _write(tmp_path / "a.pkl", {"train": part}))
    assert "'vision'" in msg and "'regression_labels' or 'labels'" in msg and "'text'" in msg
    msg = _raises("no 'test' split", load_mosi, _write(tmp_path / "b.pkl", {"train": part}), split="test")
    assert "['train']" in msg
    _raises("Unknown split", load_mosi, tmp_path / "b.pkl", split="dev2")
    _raises("Unknown label scheme", load_mosi, tmp_path / "b.pkl", labels="5class")


def test_mosi_text_bert_token_ids_are_refused(tmp_path):
    rng = np.random.default_rng(4)
    part = _split(10, rng)
    part["text_bert"] = np.zeros((10, 3, 6))
    del part["text"]
    _raises("token ids", load_mosi, _write(tmp_path / "a.pkl", {"train": part}))


def test_mosi_mismatched_lengths(tmp_path):
    rng = np.random.default_rng(5)
    part = _split(10, rng)
    part["audio"] = part["audio"][:7]
    msg = _raises("different numbers of samples", load_mosi, _write(tmp_path / "a.pkl", {"train": part}))
    assert "'audio': 7" in msg and "'text': 10" in msg


def test_mosi_nonfinite_features_name_modality_and_rows(tmp_path):
    rng = np.random.default_rng(6)
    part = _split(10, rng)
    part["audio"][[1, 4], 3, 0] = -np.inf  # as in MOSEI's COVAREP features
    part["vision"][2, 5, 1] = np.nan
    path = _write(tmp_path / "a.pkl", {"train": part})
    msg = _raises("audio features", load_mosi, path, modalities=("text", "audio"))
    assert "2 of 10 rows" in msg and "vid1$_$clip1" in msg and "nonfinite='zero'" in msg
    _raises("vision features .* 1 of 10 rows", load_mosi, path, modalities=("vision",))
    fixed = load_mosi(path, nonfinite="zero")
    assert all(np.isfinite(x).all() for x in fixed.features.values())


def test_mosi_absent_class_warns_then_errors_for_training(tmp_path):
    rng = np.random.default_rng(7)
    scores = np.array([-2.0, -1.0, 1.0, 2.0, 1.5, -1.5, 0.9, -0.9, 2.5, -2.5])  # no neutral
    path = _write(tmp_path / "a.pkl", {"train": _split(10, rng, scores), "valid": _split(10, rng),
                                         "test": _split(10, rng)})
    with pytest.warns(UserWarning, match="neutral"):
        ds = load_mosi(path)
    _raises(r"no example of class\(es\) \['neutral'\]", load_mosi, path, require_all_classes=True)
    _raises("'neutral'", ds.lab_split, training=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _raises("'neutral'", lab_splits, ds, load_mosi(path, split="valid"), load_mosi(path, split="test"))


def test_dataset_validation_in_one_place():
    with pytest.raises(InvalidInputError, match="different numbers of samples"):
        MultimodalDataset(labels=[0, 1, 2], label_names=("negative", "neutral", "positive"), ids=["a", "b", "c"],
                          source="test", features={"text": np.zeros((3, 2)), "audio": np.zeros((2, 2))})
    with pytest.raises(InvalidInputError, match=r"text features .* 1 of 3 rows"):
        MultimodalDataset(labels=[0, 1, 2], label_names=("negative", "neutral", "positive"), ids=["a", "b", "c"],
                          source="test", features={"text": np.array([[0, 1], [np.nan, 0], [1, 1]])})
    with pytest.raises(InvalidInputError, match="no modality"):
        MultimodalDataset(labels=[0], label_names=("negative",), ids=["a"], source="test")
    with pytest.raises(InvalidInputError, match="raw texts/images"):
        MultimodalDataset(labels=[0, 1, 2], label_names=("negative", "neutral", "positive"), ids=["a", "b", "c"],
                          source="test", texts=["x", "y", "z"]).lab_split()


# -- MVSA --------------------------------------------------------------------------------------------------------
def _mvsa(tmp_path, rows, header="ID\ttext,image", name="MVSA_Single", skip=()):
    root = tmp_path / name
    (root / "data").mkdir(parents=True)
    lines = [header] + [f"{sid}\t" + "\t".join(pairs) for sid, pairs in rows]
    (root / "labelResultAll.txt").write_text("\n".join(lines) + "\n")
    for i, (sid, _) in enumerate(rows):
        if sid in skip:
            continue
        Image.new("RGB", (4, 4), (i * 20 % 256, 0, 0)).save(root / "data" / f"{sid}.jpg")
        (root / "data" / f"{sid}.txt").write_bytes(f"tweet {sid} caf\xe9".encode("utf-8" if i % 2 else "cp1252"))
    return root


SINGLE = [("1", ["positive,positive"]), ("2", ["neutral,negative"]), ("3", ["positive,negative"]),
          ("4", ["neutral,neutral"]), ("5", ["positive,neutral"]), ("6", ["negative,negative"])]


def test_mvsa_single_round_trip_agree_rule(tmp_path):
    root = _mvsa(tmp_path, SINGLE)
    ds = load_mvsa(root)
    assert ds.ids == ["1", "2", "4", "5", "6"]  # 3 (positive vs negative) dropped, file order kept
    assert [ds.label_names[i] for i in ds.labels] == ["positive", "negative", "neutral", "positive", "negative"]
    assert ds.texts[0] == "tweet 1 caf\xe9" and ds.texts[1] == "tweet 2 caf\xe9"  # cp1252 and utf-8 both read
    assert [p.name for p in ds.images] == [f"{i}.jpg" for i in ds.ids]
    assert Image.open(ds.images[0]).size == (4, 4) and ds.features == {}
    assert load_mvsa(root, label="strict").ids == ["1", "4", "6"]
    assert load_mvsa(root, label="text").labels.tolist() == [2, 1, 2, 1, 2, 0]
    assert load_mvsa(root, label="image").labels.tolist() == [2, 0, 0, 1, 1, 0]


def test_mvsa_multiple_majority_per_modality(tmp_path):
    rows = [("10", ["positive,positive", "positive,neutral", "negative,positive"]),  # text pos, image pos
            ("11", ["neutral,negative", "neutral,negative", "positive,neutral"]),  # text neu, image neg -> negative
            ("12", ["positive,negative", "negative,neutral", "neutral,positive"]),  # no text majority: dropped
            ("13", ["neutral,neutral", "neutral,positive", "negative,neutral"])]  # neutral
    root = _mvsa(tmp_path, rows, header="ID\ttext,image\ttext,image\ttext,image", name="MVSA")
    ds = load_mvsa(root)
    assert ds.ids == ["10", "11", "13"] and ds.labels.tolist() == [2, 0, 1]


def test_mvsa_bad_inputs(tmp_path):
    msg = _raises("was not found", load_mvsa, tmp_path / "nothing")
    assert "MVSA" in msg and "authors" in msg
    empty = tmp_path / "empty"
    empty.mkdir()
    _raises("no 'labelResultAll.txt'", load_mvsa, empty)
    root = _mvsa(tmp_path, SINGLE, skip=("2", "5"))
    msg = _raises("2 of 5 labelled MVSA samples", load_mvsa, root)
    assert "'2', '5'" in msg and str(root / "data") in msg and "re-extract" in msg
    (root / "labelResultAll.txt").write_text("ID\ttext,image\n1\tpositive;happy\n")
    _raises("line 2", load_mvsa, root)
    (root / "labelResultAll.txt").write_text("1\tpositive,positive\n")
    _raises("header", load_mvsa, root)
    _raises("Unknown MVSA label rule", load_mvsa, root, label="majority")


def test_mvsa_absent_class_errors_for_training(tmp_path):
    root = _mvsa(tmp_path, [("1", ["positive,positive"]), ("2", ["negative,neutral"])])
    _raises(r"no example of class\(es\) \['neutral'\]", load_mvsa, root, require_all_classes=True)
