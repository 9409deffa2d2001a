"""The fusion lab's entry point: train several fusion strategies on the same features and compare them fairly.

:func:`compare` prepares the data for each seed (the procedural sentiment world, or real data from
the loaders via ``data=``), extracts the chosen representations once per seed, trains every strategy
(full-batch Adam, early stopping on a validation split; optional multi-task loss and modality
dropout, see :class:`~mmbench.fusion.training.TrainConfig`), and scores it on a test split: accuracy, macro P/R/F1, confusion
matrix, one-vs-rest ROC and PR curves with their AUCs, a reliability diagram and the calibration
error, robustness when a modality is removed or noised at test time, and (``ablation=True``) a
modality ablation that *retrains* without each modality. The :class:`~mmbench.fusion.report.FusionReport`
keeps the test probabilities, so curves, the error-case gallery (:mod:`mmbench.fusion.inspect`) and
the single-example view are computed from it without retraining.

The parts live in :mod:`mmbench.fusion.data` (settings, features per seed, real data),
:mod:`mmbench.fusion.training` (one strategy's training and scoring), :mod:`mmbench.metrics`
(classification metrics and calibration) and :mod:`mmbench.fusion.report` (tables and summary).
"""

from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import InvalidInputError
from ..metrics import classification_metrics
from ..models.fusion_strategies import STRATEGIES, UNIMODAL
from .data import FusionSetting, LabData, lab_data, seed_data
from .report import FusionReport
from .training import TrainConfig, predict_proba, robustness, tensors, train_strategy

DEFAULT_STRATEGIES: tuple[str, ...] = tuple(STRATEGIES)
FUSION_STRATEGIES: tuple[str, ...] = tuple(s for s in STRATEGIES if s not in UNIMODAL)


def compare(strategies: Sequence[str] | None = None, seeds: Sequence[int] = (0, 1, 2),
            setting: FusionSetting | None = None, progress: Callable[[str], None] | None = None,
            config: TrainConfig = TrainConfig(), with_robustness: bool = True, *, data: Any = None,
            representations: Mapping[str, str] | None = None, ablation: bool | Sequence[str] = False,
            keep_models: bool = True) -> FusionReport:
    """Train and score every strategy for every seed, on procedural or real data.

    Args:
        strategies: names from :data:`~mmbench.models.fusion_strategies.STRATEGIES` (default: all that the
            data's modalities allow).
        seeds: each seed is its own procedural dataset (``SentimentWorld(seed)``) — or, for real
            data, its own split (one dataset) and weight initialisation.
        setting: the procedural data setting (reliability, noise, sizes); not with ``data``.
        progress: receives one line of text per step (e.g. ``print`` to stderr, or a UI callback).
        config: training options shared by every strategy (multi-task loss, modality dropout...).
        with_robustness: also score each fusion model with a modality removed / noised at test time.
        data: real data as the loaders give it (see :func:`mmbench.fusion.data.lab_data`): one or three
            :class:`~mmbench.data.datasets.MultimodalDataset`, or ``lab_splits(...)``'s dict.
        representations: ``{modality: name}`` (``"minilm"``, ``"clip"``, ``"cnn"``, ``"tfidf"``...).
        ablation: ``True`` (every fusion strategy) or a list of strategies to retrain without each modality.
        keep_models: keep the first seed's trained models in the report (single-example view).
    """
    if data is not None and setting is not None:
        raise InvalidInputError("Pass either setting= (procedural data) or data= (real data), not both.")
    if not seeds:
        raise InvalidInputError("compare needs at least one seed.")
    config.check()
    if data is None:
        setting = setting or FusionSetting()
        if representations:
            from dataclasses import replace

            from .representations import resolve

            setting = replace(setting, representations=tuple(sorted(resolve(representations).items())))
    log = progress or (lambda _msg: None)
    requested = None if strategies is None else list(strategies)
    unknown = [s for s in (requested or []) if s not in STRATEGIES]
    if unknown or requested == []:
        raise InvalidInputError(f"Unknown fusion strategy {unknown or requested!r}.",
                                hint=f"Choose from {list(STRATEGIES)}.")
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the models are tiny: one thread is faster than paying for thread sync
    try:
        return _compare(requested, seeds, setting, data, representations, log, config, with_robustness, ablation,
                        keep_models)
    finally:
        torch.set_num_threads(threads)


def _seed_data(seed: int, setting, data, representations) -> LabData:
    if data is None:
        return seed_data(seed, setting)
    return lab_data(data, seed=seed, representations=representations)


def _usable(strategies, modalities, explicit: bool) -> list[str]:
    out = []
    for s in strategies:
        if s in UNIMODAL and s not in modalities:
            if explicit:
                raise InvalidInputError(f"Strategy {s!r} needs {s} features, and the data has none.",
                                        hint=f"The data has {modalities}; choose strategies that use them.")
            continue
        out.append(s)
    return out


def _compare(requested, seeds, setting, data, representations, log, config, with_robustness, ablation,
             keep_models) -> FusionReport:
    start = time.perf_counter()
    report: FusionReport | None = None
    gates: list[np.ndarray] = []
    for k, seed in enumerate(seeds):
        t0 = time.perf_counter()
        d = _seed_data(int(seed), setting, data, representations)
        log(f"seed {seed}: data and features ready ({time.perf_counter() - t0:.1f}s)")
        if report is None:
            strategies = _usable(requested or DEFAULT_STRATEGIES, d.modalities, requested is not None)
            if not strategies:
                raise InvalidInputError("No strategy can run on this data.")
            report = FusionReport(strategies, [int(s) for s in seeds], label_names=tuple(d.label_names),
                                  modalities=d.modalities, representations=dict(d.representations),
                                  source=d.source, config=config, example_data=d)
            ablate = [s for s in (strategies if ablation is True else (ablation or ())) if s not in UNIMODAL]
            unknown = [s for s in ablate if s not in strategies]
            if unknown:
                raise InvalidInputError(f"Ablation asked for strategies that are not compared: {unknown}.")
        (xte, yte) = d.test
        report.labels.append(np.asarray(yte))
        report.test_data.append(d.test_dataset)
        for name in report.strategies:
            t0 = time.perf_counter()
            model = train_strategy(name, d.train, d.val, seed=int(seed), config=config, n_classes=d.n_classes)
            proba = predict_proba(model, xte)
            result = classification_metrics(yte, proba)
            if with_robustness and name not in UNIMODAL and len(xte) > 1:
                result.update(robustness(model, xte, yte, seed=int(seed)))
            if name == "gated":
                w = model.gate_weights(tensors(xte))
                gates.append(np.array([w[m].mean().item() for m in report.modalities if m in w]))
            if name in ablate and len(xte) > 1:
                for m in report.modalities:
                    without = ({x: v for x, v in d.train[0].items() if x != m}, d.train[1])
                    val = ({x: v for x, v in d.val[0].items() if x != m}, d.val[1])
                    sub = train_strategy(name, without, val, seed=int(seed), config=config, n_classes=d.n_classes)
                    f1 = classification_metrics(yte, predict_proba(sub, {x: v for x, v in xte.items() if x != m}))
                    report.ablation.setdefault(name, {}).setdefault(f"without_{m}", []).append(f1["macro_f1"])
            report.results.setdefault(name, []).append(result)
            report.probas.setdefault(name, []).append(proba)
            if keep_models and k == 0:
                report.models[name] = model
            log(f"seed {seed}: {name:13} macro-F1 {result['macro_f1']:.3f} ({time.perf_counter() - t0:.1f}s)")
    if gates:
        report.gate_weights = dict(zip([m for m in report.modalities], np.mean(gates, axis=0).tolist()))
    report.wall_seconds = time.perf_counter() - start
    return report
