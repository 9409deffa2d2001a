"""Scale-out on Ray Serve: ``mmbench serve --ray`` and ``deploy/serve_config.yaml`` (chapter 7.5.1).

The REST app is defined once (:func:`mmbench.serve.app.create_app`); Ray Serve changes only *where*
the endpoints run. Each model family is one Serve deployment, with its own replicas, autoscaling
and CPUs/GPUs per replica (:data:`FAMILIES`):

* ``Embeddings``: CLIP image/text embeddings and sentence embeddings (similarity, zero-shot, search, embed);
* ``Classification``: image, audio and video classification;
* ``Generation``: captioning, VQA, text-to-image, text-to-speech/-audio, speech recognition and
  explanations, one request at a time per replica.

A replica runs the endpoint functions of :mod:`mmbench.serve.tasks` unchanged. Where a pipeline
takes batches (CLIP image/text embeddings, sentence embeddings, image classification:
:data:`BATCH_OPS`) the replica batches *across requests* with ``@serve.batch`` and
:func:`mmbench.serve.batching.run_batched` (record each endpoint's pipeline calls, make one call per
method for the whole batch, replay each endpoint on its own rows): answers are the local runner's.

One REST definition, two ways to run it:

* ``mmbench serve --ray``: :class:`RayRunner` inside the uvicorn server process starts a local Ray
  cluster (:mod:`.ray_local`) or connects to ``RAY_ADDRESS``, deploys the families and forwards every
  request to its family's deployment handle;
* ``serve deploy deploy/serve_config.yaml`` (multi-node cluster, KubeRay): :func:`build_app` adds an
  ``Ingress`` deployment serving ``create_app`` over a :class:`RayRunner` of handles, behind Ray
  Serve's HTTP proxy.

Fault tolerance: :class:`RayRunner` retries a request whose replica died (killed actor, lost node)
on another replica (the endpoints are pure functions, so a retry is safe) while Serve starts a
replacement; clients see a slower answer, not an error.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from typing import Any

from ray import serve

from ..errors import MMBenchError, ModelUnavailableError
from .admission import Overloaded
from .ray_families import (APP_PREFIX, BATCH_OPS, FAMILIES, REPLICA_LOGGING, Family, ModelFamily,  # noqa: F401
                           family_deployment, family_of)
from .ray_local import connect, shutdown  # noqa: F401
from .runner import check_endpoint
from .tasks import DEFAULT_WARM

log = logging.getLogger("mmbench.serve")

_RETRYABLE_NAMES = ("RayActorError", "ActorDiedError", "ActorUnavailableError", "WorkerCrashedError",
                    "ReplicaUnavailableError", "DeploymentUnavailableError")


class RayRunner:
    """The :class:`~mmbench.serve.runner.Runner` protocol on Ray Serve: each request goes to its
    family's deployment (:func:`family_of`); a request whose replica died is sent again.

    Args:
        handles: family -> ``DeploymentHandle`` (what :func:`build_app`'s ingress passes). None: the
            runner deploys the families itself on :meth:`warm_up` (``mmbench serve --ray``), on a
            local cluster on loopback, or on ``address``/``RAY_ADDRESS`` when set.
        address: a Ray cluster to connect to instead of starting one.
        families: the families to deploy (default: all of :data:`FAMILIES`).
        replicas: fixed replicas per family; None: 1 on a local cluster, the family's autoscaling
            config on a remote one.
        num_cpus: logical CPUs per replica (default: a share of the local cluster so every replica
            fits, 1 on a remote cluster); ``num_gpus``: GPUs per replica.
        threads: torch threads per replica (default: its CPUs). ``cluster_cpus``: a local cluster's
            CPUs (default: this machine's).
        batching, max_batch_size, batch_wait_timeout_s: the batch queue of the batched families.
        warm: tasks whose default models load before ``/readyz`` turns ready; ``models``: task ->
            default model name.
        retries: times a request is sent again after its replica died.

    Every option defaults from the JSON object in ``MMBENCH_RAY_OPTIONS`` when set (how ``mmbench
    serve --ray`` is tuned without more command-line flags).
    """

    def __init__(self, handles: dict[str, Any] | None = None, **options: Any) -> None:
        import json

        env = json.loads(os.environ.get("MMBENCH_RAY_OPTIONS") or "{}") if handles is None else {}
        opts = {**env, **options}
        self.address = opts.pop("address", None)
        self.families = list(opts.pop("families", None) or FAMILIES)
        self.replicas = opts.pop("replicas", None)
        self.num_cpus = opts.pop("num_cpus", None)
        self.num_gpus = float(opts.pop("num_gpus", 0.0))
        self.cluster_cpus = opts.pop("cluster_cpus", None)
        self.retries = int(opts.pop("retries", 5))
        self.warm = tuple(opts.pop("warm", DEFAULT_WARM))
        self.deploy_options = {k: opts.pop(k) for k in ("batching", "threads", "models", "max_batch_size",
                                                        "batch_wait_timeout_s") if k in opts}
        if opts:
            raise TypeError(f"unknown RayRunner options: {', '.join(sorted(opts))}")
        self._handles = dict(handles) if handles is not None else None
        self._apps: list[str] = []
        self._owns_cluster = False
        self._ready = threading.Event()
        self._started = threading.Event()
        self._stop = threading.Event()
        self._starting = threading.Lock()
        self._keeper: threading.Thread | None = None
        #: Why starting failed (``/readyz`` shows it), else None. ``retried``: requests sent again.
        self.error: str | None = None
        self.retried = 0

    # -- the Runner protocol ------------------------------------------------------------------
    async def run(self, endpoint: str, inputs: dict[str, Any]) -> dict[str, Any]:
        """Run ``endpoint`` on its family's replicas; retried on another replica if its replica dies."""
        check_endpoint(endpoint)
        family = family_of(endpoint)
        handle = (await self._wait_handles()).get(family)
        if handle is None:
            raise ModelUnavailableError(f"The {family} deployment is not running on this Ray cluster.",
                                        hint=f"Deploy it (families: {', '.join(FAMILIES)}).")
        delay = 0.1
        for attempt in range(self.retries + 1):
            try:
                return await handle.run.remote(endpoint, inputs)
            except Exception as err:  # noqa: BLE001 — sorted below
                cause = getattr(err, "cause", None)
                if isinstance(cause, MMBenchError):
                    raise cause from None
                if isinstance(err, MMBenchError):
                    raise
                if type(err).__name__ == "BackPressureError":
                    raise Overloaded(f"The {family} replicas are full.", status=503, retry_after=1) from None
                if not _retryable(err) and not _retryable(cause):
                    raise
                if attempt == self.retries:
                    raise ModelUnavailableError(f"The {family} replicas kept failing ({type(err).__name__}).",
                                                hint="Retry in a few seconds.") from None
                self.retried += 1
                log.warning("replica failed, sending the request again", extra={"fields": {
                    "endpoint": endpoint, "error": type(err).__name__, "attempt": attempt + 1}})
                await asyncio.sleep(delay)
                delay = min(2 * delay, 2.0)
        raise AssertionError("unreachable")

    def ready(self) -> bool:
        return self._ready.is_set()

    def warm_up(self) -> None:
        """Deploy the families (unless handles were given) and wait until a replica of each answers.

        The cluster is started and later shut down by one long-lived thread of this runner: Ray's
        processes die with the thread that started them (Linux's parent-death signal is per thread).
        """
        with self._starting:
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, daemon=True, name="mmbench-ray")
                self._keeper.start()
        self._started.wait()
        if not self._ready.is_set():
            raise ModelUnavailableError(self.error or "Ray Serve did not start.")

    def close(self) -> None:
        """Remove what this runner deployed; shut down the local cluster it started."""
        self._stop.set()
        if self._keeper is not None:
            self._keeper.join(timeout=120)

    # -- helpers ----------------------------------------------------------------------------
    def info(self) -> dict[str, dict[str, Any]]:
        """A replica's :meth:`ModelFamily.info` per family (blocking; for tests and benchmarks)."""
        return {name: h.info.remote().result(timeout_s=60) for name, h in (self._handles or {}).items()}

    async def _wait_handles(self) -> dict[str, Any]:
        if not self._started.is_set():
            if self._keeper is None:  # nobody called warm_up (create_app(warm=False)): start now
                threading.Thread(target=self._warm_quietly, daemon=True, name="mmbench-ray-start").start()
            while not self._started.is_set():
                await asyncio.sleep(0.05)
        if self._handles is None or not self._ready.is_set():
            raise ModelUnavailableError(self.error or "Ray Serve is not running.",
                                        hint="See the server log; check the Ray cluster (`ray status`).")
        return self._handles

    def _warm_quietly(self) -> None:
        try:
            self.warm_up()
        except Exception:  # noqa: BLE001 — kept in self.error, reported by /readyz and run()
            pass

    def _keep(self) -> None:
        """The keeper thread: start (or connect), deploy, wait for :meth:`close`, then clean up."""
        try:
            if self._handles is None:
                self._handles = self._deploy()
            for handle in self._handles.values():
                handle.info.remote().result(timeout_s=600)
            self._ready.set()
        except Exception as err:  # noqa: BLE001 — reported by /readyz, run() and warm_up()
            self.error = f"Ray Serve did not start: {type(err).__name__}: {err}"
            log.error(self.error)
        finally:
            self._started.set()
        self._stop.wait()
        self._ready.clear()
        try:
            self._shutdown()
        except Exception as err:  # noqa: BLE001 — shutting down anyway
            log.warning("Ray Serve shutdown: %s", err)

    def _shutdown(self) -> None:
        import ray

        if not self._apps or not ray.is_initialized():
            return
        if self._owns_cluster:
            serve.shutdown()
            shutdown()
        else:
            for app in self._apps:
                serve.delete(app)
        self._apps = []

    def _deploy(self) -> dict[str, Any]:
        from ray.serve import RunTarget

        self._owns_cluster = connect(self.address, self.cluster_cpus)
        local = self._owns_cluster
        replicas = self.replicas if self.replicas is not None else (1 if local else None)
        num_cpus = self.num_cpus
        if num_cpus is None:
            import ray

            total = ray.cluster_resources().get("CPU", 1.0)
            count = (replicas or 1) * len(self.families)
            num_cpus = min(1.0, total / count) if local else 1.0
        serve.start(proxy_location="Disabled")
        targets = [RunTarget(family_deployment(name, num_cpus=num_cpus, num_gpus=self.num_gpus, replicas=replicas,
                                               warm=self.warm, **self.deploy_options),
                             name=f"{APP_PREFIX}-{name.lower()}", route_prefix=None) for name in self.families]
        self._apps = [t.name for t in targets]
        handles = serve.run_many(targets)
        return dict(zip(self.families, handles))


def _retryable(err: Any) -> bool:
    return err is not None and any(cls.__name__ in _RETRYABLE_NAMES for cls in type(err).__mro__)


@serve.deployment(name="Ingress", max_ongoing_requests=256, ray_actor_options={"num_cpus": 0.5},
                  logging_config=REPLICA_LOGGING)
@serve.ingress()
class Ingress:
    """The HTTP ingress of :func:`build_app`: ``create_app`` (the one REST definition) over a
    :class:`RayRunner` of the family handles, behind Ray Serve's proxy."""

    def __init__(self, handles: dict[str, Any], app_options: dict[str, Any] | None = None) -> None:
        self.runner = RayRunner(handles=handles)
        self.app_options = {"ui": False, "max_concurrency": 64, "max_queue": 256, **(app_options or {})}

    def __serve_build_asgi_app__(self) -> Any:
        from .app import create_app

        return create_app(self.runner, **self.app_options)


def build_app(args: dict[str, Any] | None = None) -> Any:
    """The Serve application of ``deploy/serve_config.yaml`` (``import_path:
    mmbench.serve.ray_serve:build_app``): the ``Ingress`` plus one deployment per family.

    ``args`` (the YAML's ``args``): ``families`` (default all), ``ui``, ``max_concurrency``, ``max_queue``,
    ``max_body_mb`` (the REST app), ``batching``, ``max_batch_size``, ``batch_wait_timeout_s``,
    ``threads``, ``warm``, ``models``, and the defaults ``replicas``, ``num_cpus``, ``num_gpus`` (per
    family replica) and ``ingress_cpus``. The YAML's ``deployments:`` entries (by name) override
    replicas, autoscaling and resources per deployment.
    """
    args = dict(args or {})
    app_keys = ("ui", "max_concurrency", "max_queue", "max_body_mb", "max_per_client")
    app_options = {k: args.pop(k) for k in app_keys if k in args}
    families = list(args.pop("families", None) or FAMILIES)
    unknown = [f for f in families if f not in FAMILIES]
    if unknown:
        raise ValueError(f"unknown families {unknown}; known: {list(FAMILIES)}")
    ingress = Ingress.options(ray_actor_options={"num_cpus": float(args.pop("ingress_cpus", 0.5))})
    warm = tuple(args.pop("warm", DEFAULT_WARM))
    handles = {name: family_deployment(name, warm=warm, **args) for name in families}
    return ingress.bind(handles, app_options)
