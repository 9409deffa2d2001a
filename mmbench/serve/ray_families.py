"""Ray Serve deployments of mmbench's model families (used by :mod:`mmbench.serve.ray_serve`).

:data:`FAMILIES` is the table (one deployment each), :class:`ModelFamily` the replica: it runs the
endpoint functions of :mod:`mmbench.serve.tasks` unchanged and, for the pipeline methods of
:data:`BATCH_OPS`, batches across requests with ``@serve.batch`` (each request runs in its own
thread with a view of the pipeline whose batchable methods validate the request's items and hand
them to the batch queue; one pipeline call per batch; each request gets its own rows back).
"""

from __future__ import annotations

import asyncio
import collections
import copy
import functools
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from ray import serve

from .tasks import ENDPOINTS, describe

#: Prefix of the Serve application names ``RayRunner`` deploys (one application per family).
APP_PREFIX = "mmbench"
#: Items one batched pipeline call takes at most (bigger joined batches are split; bounds memory).
MAX_BATCH_ITEMS = 256
#: Defaults of the batch queue, chosen by measurement (``mmbench bench serve``; README).
MAX_BATCH_SIZE = 32
#: Python's GIL switch interval in batching replicas (default 5 ms: a request waits that long per
#: thread hop while the model thread computes, so batches would form from a trickle).
SWITCH_INTERVAL_S = 0.0005
BATCH_WAIT_TIMEOUT_S = 0.01


@dataclass(frozen=True)
class Family:
    """One model family = one Serve deployment.

    Attributes:
        name: the deployment name (also in ``deploy/serve_config.yaml``).
        tasks: registry tasks whose endpoints it serves.
        batched: whether its replicas batch across requests by default.
        max_ongoing_requests: requests one replica holds at once (batching needs many).
        autoscaling: Serve ``autoscaling_config`` for clusters (``min/max_replicas``, target load).
    """

    name: str
    tasks: tuple[str, ...]
    batched: bool
    max_ongoing_requests: int
    autoscaling: tuple[tuple[str, Any], ...]

    def autoscaling_config(self) -> dict[str, Any]:
        return dict(self.autoscaling)


#: The model families (deployments), by name.
FAMILIES: dict[str, Family] = {f.name: f for f in (
    Family("Embeddings", ("image-text-matching", "sentence-embedding"), True, 64,
           (("min_replicas", 1), ("max_replicas", 8), ("target_ongoing_requests", 16))),
    Family("Classification", ("image-classification", "audio-classification", "video-classification"), True, 32,
           (("min_replicas", 1), ("max_replicas", 8), ("target_ongoing_requests", 8))),
    Family("Generation", ("image-to-text", "visual-question-answering", "text-to-image", "text-to-speech",
                          "text-to-audio", "speech-recognition"), False, 2,
           (("min_replicas", 1), ("max_replicas", 4), ("target_ongoing_requests", 1))),
)}

#: task -> pipeline method batched across requests -> the ``mmbench.io`` validator run per request
#: first (so a bad input fails its own request, named as in the local runner).
BATCH_OPS: dict[str, dict[str, str]] = {
    "image-text-matching": {"embed_images": "validate_images", "embed_texts": "validate_texts"},
    "sentence-embedding": {"embed": "validate_many_texts"},
    "image-classification": {"probabilities": "validate_images"},
}


def family_of(endpoint: str) -> str:
    """The family (deployment) that runs ``endpoint``; explanations go to ``Generation`` (heavy, unbatched)."""
    ep = ENDPOINTS[endpoint]
    if not ep.name.startswith("explain."):
        for fam in FAMILIES.values():
            if ep.task in fam.tasks:
                return fam.name
    return "Generation"


def _validator(name: str) -> Any:
    from .. import io

    if name == "validate_many_texts":
        return functools.partial(io.validate_texts, max_items=1_000_000)
    return getattr(io, name)


def _assigned_cpus() -> int:
    import ray

    try:
        cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1.0)
    except Exception:  # not in a Ray worker
        cpus = 1.0
    return max(1, round(cpus))


@serve.deployment(ray_actor_options={"num_cpus": 1}, max_ongoing_requests=32, graceful_shutdown_timeout_s=30)
class ModelFamily:
    """A replica of one model family: runs its endpoints, batching across requests where it can.

    Args:
        family: a key of :data:`FAMILIES`.
        batching: batch across requests (default: the family's ``batched``); False runs requests
            one at a time, as a plain unbatched replica does.
        threads: torch CPU threads (default: the CPUs Ray assigned to the replica).
        warm: registry tasks whose pipelines load before the replica reports ready.
        models: task -> registry model used when a request names none (default: the task's default).
        max_batch_size, batch_wait_timeout_s: the batch queue (also settable through ``user_config``).
    """

    def __init__(self, family: str, *, batching: bool | None = None, threads: int | None = None,
                 warm: Sequence[str] = (), models: dict[str, str] | None = None,
                 max_batch_size: int = MAX_BATCH_SIZE, batch_wait_timeout_s: float = BATCH_WAIT_TIMEOUT_S) -> None:
        import torch

        from ..loading import pipeline

        self.family = family
        self.batching = FAMILIES[family].batched if batching is None else bool(batching)
        self.threads = int(threads or _assigned_cpus())
        torch.set_num_threads(self.threads)
        if self.batching:  # requests keep arriving (GIL hand-offs) while a batch runs: they form the next batch
            sys.setswitchinterval(SWITCH_INTERVAL_S)
        self.models = dict(models or {})
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=10_000)
        self.model_s = 0.0  # seconds spent in batched pipeline calls
        self.requests = 0
        self._requests = ThreadPoolExecutor(max_workers=256, thread_name_prefix="mmbench-request")
        self._model = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mmbench-model")  # one model call at a time
        self.reconfigure({"max_batch_size": max_batch_size, "batch_wait_timeout_s": batch_wait_timeout_s})
        for task in warm:
            pipeline(task, model=self.models.get(task))

    def reconfigure(self, config: dict[str, Any]) -> None:
        """Apply a deployment ``user_config``: ``max_batch_size``, ``batch_wait_timeout_s``, ``batching``."""
        if "max_batch_size" in config:
            self._batch.set_max_batch_size(int(config["max_batch_size"]))
        if "batch_wait_timeout_s" in config:
            self._batch.set_batch_wait_timeout_s(float(config["batch_wait_timeout_s"]))
        if "batching" in config:
            self.batching = bool(config["batching"])

    async def run(self, endpoint: str, wire: dict[str, Any]) -> dict[str, Any]:
        """Run ``endpoint`` on a wire dict, as :func:`mmbench.serve.tasks.execute` does."""
        loop = asyncio.get_running_loop()
        self.requests += 1
        if self.batching and ENDPOINTS[endpoint].task in BATCH_OPS:
            return await loop.run_in_executor(self._requests, self._execute, endpoint, wire, loop)
        return await loop.run_in_executor(self._model, self._execute, endpoint, wire, None)

    async def info(self) -> dict[str, Any]:
        """Who answered and how it batched: pid, actor, family, threads, batch sizes seen so far."""
        import ray

        sizes = list(self.batch_sizes)
        return {"family": self.family, "pid": os.getpid(), "actor_id": ray.get_runtime_context().get_actor_id(),
                "threads": self.threads, "batching": self.batching, "batches": len(sizes),
                "max_batch": max(sizes, default=0), "mean_batch": sum(sizes) / len(sizes) if sizes else 0.0,
                "requests": self.requests, "batched_model_s": round(self.model_s, 3)}

    def _execute(self, endpoint: str, wire: dict[str, Any], loop: asyncio.AbstractEventLoop | None) -> dict[str, Any]:
        ep = ENDPOINTS[endpoint]
        model, inputs = ep.prepare(wire)
        pipe = ep.load(model or self.models.get(ep.task or ""))
        result = ep.run(self._batching_view(pipe, loop) if loop is not None else pipe, **inputs)
        result.update(describe(pipe))
        return result

    def _batching_view(self, pipe: Any, loop: asyncio.AbstractEventLoop) -> Any:
        """A shallow copy of ``pipe`` whose batchable methods go through the batch queue."""
        view = copy.copy(pipe)
        for op, validator in BATCH_OPS[pipe.task].items():
            setattr(view, op, functools.partial(self._submit, loop, pipe, op, _validator(validator)))
        return view

    def _submit(self, loop: asyncio.AbstractEventLoop, pipe: Any, op: str, validate: Any, items: Any,
                *args: Any, **kwargs: Any) -> Any:
        if any(a is not None for a in (*args, *kwargs.values())):  # a call with its own options runs alone
            return getattr(pipe, op)(items, *args, **kwargs)
        clean = validate(items)  # this request's bad input fails this request only
        status, value = asyncio.run_coroutine_threadsafe(self._batch((pipe, op, clean)), loop).result()
        if status == "error":
            raise value
        return value

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_TIMEOUT_S)
    async def _batch(self, calls: list[tuple[Any, str, list]]) -> list[tuple[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self._model, self._run_batch, calls)

    def _run_batch(self, calls: list[tuple[Any, str, list]]) -> list[tuple[str, Any]]:
        """One pipeline call per (model, method) and chunk of at most :data:`MAX_BATCH_ITEMS` items."""
        start = time.perf_counter()
        try:
            return self._run_batch_calls(calls)
        finally:
            self.batch_sizes.append(len(calls))
            self.model_s += time.perf_counter() - start

    def _run_batch_calls(self, calls: list[tuple[Any, str, list]]) -> list[tuple[str, Any]]:
        results: list[tuple[str, Any]] = [("error", RuntimeError("not run"))] * len(calls)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i, (pipe, op, _) in enumerate(calls):  # mmbench.pipeline() wraps one cached backend per call
            groups.setdefault((type(pipe), id(pipe.backend), pipe.spec.name, op), []).append(i)
        for members in groups.values():
            pipe, op = calls[members[0]][0], calls[members[0]][1]
            for chunk in _chunks(members, [len(calls[i][2]) for i in members]):
                try:
                    out = getattr(pipe, op)([x for i in chunk for x in calls[i][2]])
                    start = 0
                    for i in chunk:
                        n = len(calls[i][2])
                        results[i] = ("ok", out[start:start + n])
                        start += n
                except Exception:  # noqa: BLE001 — never let one request fail the others: run them alone
                    for i in chunk:
                        results[i] = _call_alone(pipe, op, calls[i][2])
        return results


def _chunks(members: list[int], sizes: list[int]) -> list[list[int]]:
    out: list[list[int]] = [[]]
    total = 0
    for i, n in zip(members, sizes):
        if out[-1] and total + n > MAX_BATCH_ITEMS:
            out.append([])
            total = 0
        out[-1].append(i)
        total += n
    return out


def _call_alone(pipe: Any, op: str, items: list) -> tuple[str, Any]:
    try:
        return "ok", getattr(pipe, op)(items)
    except Exception as err:  # noqa: BLE001 — handed back to the request that sent it
        return "error", err


def family_deployment(name: str, *, num_cpus: float = 1.0, num_gpus: float = 0.0, replicas: int | None = None,
                      batching: bool | None = None, threads: int | None = None, warm: Sequence[str] = (),
                      models: dict[str, str] | None = None, max_batch_size: int = MAX_BATCH_SIZE,
                      batch_wait_timeout_s: float = BATCH_WAIT_TIMEOUT_S) -> Any:
    """The bound Serve deployment of family ``name``: ``replicas`` fixed replicas, or (None) the family's
    autoscaling config; ``num_cpus``/``num_gpus`` per replica; the other options go to :class:`ModelFamily`."""
    fam = FAMILIES[name]
    options: dict[str, Any] = {"name": name, "max_ongoing_requests": fam.max_ongoing_requests,
                               "ray_actor_options": {"num_cpus": num_cpus, "num_gpus": num_gpus}}
    if replicas is None:
        options["autoscaling_config"] = fam.autoscaling_config()
    else:
        options["num_replicas"] = int(replicas)
    return ModelFamily.options(**options).bind(
        name, batching=batching, threads=threads, warm=[t for t in warm if t in fam.tasks], models=models,
        max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s)
