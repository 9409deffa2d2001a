"""Ray Serve deployments of mmbench's model families (used by :mod:`mmbench.serve.ray_serve`).

:data:`FAMILIES` is the table (one deployment each), :class:`ModelFamily` the replica: it runs the
endpoint functions of :mod:`mmbench.serve.tasks` unchanged. Requests of endpoints whose pipeline
has batchable methods (:data:`~mmbench.serve.batching.BATCH_OPS`) are decoded on arrival and
queued with ``@serve.batch``; each batch runs in the replica's one model thread through
:func:`~mmbench.serve.batching.run_batched` (one pipeline call per method for the whole batch,
every request's answer computed by its endpoint function). Everything else runs one request at a
time in that same thread.
"""

from __future__ import annotations

import asyncio
import collections
import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Sequence

from ray import serve

from .batching import BATCH_OPS, MAX_BATCH_ITEMS, run_batched  # noqa: F401
from .tasks import ENDPOINTS, describe

#: Prefix of the Serve application names ``RayRunner`` deploys (one application per family).
APP_PREFIX = "mmbench"
#: Defaults of the batch queue, chosen by measurement (``mmbench bench serve``; README): under load
#: the REST front end hands a finished batch's clients' next requests over one by one, so a short
#: wait collects only a few of them; a request alone in its replica never waits (``ModelFamily.run``).
MAX_BATCH_SIZE = 32
BATCH_WAIT_TIMEOUT_S = 0.05
#: Serve's logging in the replicas: no per-request access line (the REST front end writes one per
#: request already; in the replica it costs about a third of Ray's per-request time), warnings up.
REPLICA_LOGGING = {"enable_access_log": False, "log_level": "WARNING"}


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

def family_of(endpoint: str) -> str:
    """The family (deployment) that runs ``endpoint``; explanations go to ``Generation`` (heavy, unbatched)."""
    ep = ENDPOINTS[endpoint]
    if not ep.name.startswith("explain."):
        for fam in FAMILIES.values():
            if ep.task in fam.tasks:
                return fam.name
    return "Generation"


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
        self.models = dict(models or {})
        self.batch_sizes: collections.deque[int] = collections.deque(maxlen=10_000)
        self.requests = 0
        self._inflight = 0
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
        """Run ``endpoint`` on a wire dict, as :func:`mmbench.serve.tasks.execute` does.

        A batchable request joins the batch queue when other requests are in this replica; alone,
        it runs at once (nothing to batch with: waiting ``batch_wait_timeout_s`` would only add latency).
        """
        self.requests += 1
        self._inflight += 1
        try:
            ep = ENDPOINTS[endpoint]
            if not (self.batching and ep.task in BATCH_OPS) or self._inflight == 1:
                return await asyncio.get_running_loop().run_in_executor(self._model, self._execute, endpoint, wire)
            model, inputs = ep.prepare(wire)  # decoding here: a bad input fails at once, outside any batch
            status, value = await self._batch((endpoint, model, inputs))
        finally:
            self._inflight -= 1
        if status == "error":
            raise value
        return value

    async def info(self) -> dict[str, Any]:
        """Who answered and how it batched: pid, actor, family, threads, batch sizes seen so far."""
        import ray

        sizes = list(self.batch_sizes)
        return {"family": self.family, "pid": os.getpid(), "actor_id": ray.get_runtime_context().get_actor_id(),
                "threads": self.threads, "batching": self.batching, "requests": self.requests,
                "batches": len(sizes), "max_batch": max(sizes, default=0),
                "mean_batch": round(sum(sizes) / len(sizes), 2) if sizes else 0.0}

    def _load(self, endpoint: Any, model: str | None) -> Any:
        return endpoint.load(model or self.models.get(endpoint.task or ""))

    def _execute(self, endpoint: str, wire: dict[str, Any]) -> dict[str, Any]:
        ep = ENDPOINTS[endpoint]
        model, inputs = ep.prepare(wire)
        pipe = self._load(ep, model)
        result = ep.run(pipe, **inputs)
        result.update(describe(pipe))
        return result

    @serve.batch(max_batch_size=MAX_BATCH_SIZE, batch_wait_timeout_s=BATCH_WAIT_TIMEOUT_S)
    async def _batch(self, requests: list[tuple[str, str | None, dict[str, Any]]]) -> list[tuple[str, Any]]:
        return await asyncio.get_running_loop().run_in_executor(self._model, self._run_batch, requests)

    def _run_batch(self, requests: list[tuple[str, str | None, dict[str, Any]]]) -> list[tuple[str, Any]]:
        """The model thread: load each request's pipeline, run them all with :func:`run_batched`."""
        self.batch_sizes.append(len(requests))
        outcomes: list[tuple[str, Any] | None] = [None] * len(requests)
        todo, where = [], []
        for k, (endpoint, model, inputs) in enumerate(requests):
            ep = ENDPOINTS[endpoint]
            try:
                pipe = self._load(ep, model)
            except Exception as err:  # noqa: BLE001 — e.g. an unknown model: this request's error
                outcomes[k] = ("error", err)
                continue
            todo.append((ep, pipe, inputs))
            where.append(k)
        for k, (ep, pipe, _), outcome in zip(where, todo, run_batched(todo)):
            if outcome[0] == "ok":
                outcome[1].update(describe(pipe))
            outcomes[k] = outcome
        return outcomes  # type: ignore[return-value]


def family_deployment(name: str, *, num_cpus: float = 1.0, num_gpus: float = 0.0, replicas: int | None = None,
                      batching: bool | None = None, threads: int | None = None, warm: Sequence[str] = (),
                      models: dict[str, str] | None = None, max_batch_size: int = MAX_BATCH_SIZE,
                      batch_wait_timeout_s: float = BATCH_WAIT_TIMEOUT_S) -> Any:
    """The bound Serve deployment of family ``name``: ``replicas`` fixed replicas, or (None) the family's
    autoscaling config; ``num_cpus``/``num_gpus`` per replica; the other options go to :class:`ModelFamily`."""
    fam = FAMILIES[name]
    options: dict[str, Any] = {"name": name, "max_ongoing_requests": fam.max_ongoing_requests,
                               "ray_actor_options": {"num_cpus": num_cpus, "num_gpus": num_gpus},
                               "logging_config": REPLICA_LOGGING}
    if replicas is None:
        options["autoscaling_config"] = fam.autoscaling_config()
    else:
        options["num_replicas"] = int(replicas)
    return ModelFamily.options(**options).bind(
        name, batching=batching, threads=threads, warm=[t for t in warm if t in fam.tasks], models=models,
        max_batch_size=max_batch_size, batch_wait_timeout_s=batch_wait_timeout_s)
