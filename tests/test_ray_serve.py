"""mmbench's REST service on Ray Serve: a real local Ray cluster on loopback (no mocks), started and
shut down by this module.

* a REST request through Ray returns the local pipeline's numbers, and a bad input its typed 4xx;
* concurrent requests form batches (``@serve.batch``) and each request still gets its own rows;
* a replica killed mid-load loses no request (the runner resends it) and Serve replaces it;
* ``deploy/serve_config.yaml`` parses as a Serve config and its ``import_path`` builds the application.
"""

from __future__ import annotations

import base64
import io
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import free_port

import mmbench

ray = pytest.importorskip("ray", reason="ray[serve] is a dependency of mmbench; install it")
from ray import serve  # noqa: E402

from mmbench.serve import ray_serve  # noqa: E402
from mmbench.serve.app import create_app  # noqa: E402
from mmbench.serve.tasks import ENDPOINTS  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "deploy" / "serve_config.yaml"
MODEL = "mmbench-tiny-clip"
TEXTS = ["a red circle", "a blue square", "a green triangle", "a small yellow circle"]
WORDS = "red blue green yellow small large circle square triangle left right above below of the a".split()


def _image(seed: int):
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray((rng.random((64, 64, 3)) * 255).astype(np.uint8), "RGB")


def _b64(image) -> str:
    buf = io.BytesIO()
    image.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _replicas(app: str, deployment: str) -> dict[str, int]:
    return dict(serve.status().applications[app].deployments[deployment].replica_states)


@pytest.fixture(scope="module")
def runner(monkeypatch_module):
    """A 2-CPU local Ray cluster on loopback (its head started by ``connect``) with the Embeddings family
    (2 replicas of 0.5 CPU, one torch thread each) deployed by RayRunner."""
    monkeypatch_module.delenv("RAY_ADDRESS", raising=False)
    monkeypatch_module.delenv("MMBENCH_RAY_OPTIONS", raising=False)
    assert not ray.is_initialized()
    assert ray_serve.connect(num_cpus=2) is True  # started here
    serve.start(http_options={"host": "127.0.0.1", "port": free_port()})  # the proxy the slow test uses
    run = ray_serve.RayRunner(families=["Embeddings"], replicas=2, num_cpus=0.5, threads=1,
                              warm=["image-text-matching"], models={"image-text-matching": MODEL},
                              batch_wait_timeout_s=0.02)
    try:
        run.warm_up()
        yield run
    finally:
        run.close()
        serve.shutdown()
        ray_serve.shutdown()  # disconnects and stops the head node connect() started
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


@pytest.fixture(scope="module")
def client(runner):
    from fastapi.testclient import TestClient

    with TestClient(create_app(runner, ui=False, max_concurrency=64, max_queue=512, warm=False)) as c:
        yield c


@pytest.fixture(scope="module")
def local_pipe():
    return mmbench.pipeline("image-text-matching", model=MODEL, fallback=False)


def test_rest_through_ray_returns_the_local_numbers(client, local_pipe):
    image = _image(0)
    r = client.post("/v1/matching/similarity", json={"images": [_b64(image)], "texts": TEXTS, "model": MODEL})
    assert r.status_code == 200, r.text
    body = r.json()
    local = local_pipe([image], TEXTS)
    np.testing.assert_allclose(body["similarity"], local.similarity, atol=1e-5)
    np.testing.assert_allclose(body["probs"], local.probs, atol=1e-5)
    assert body["model"] == MODEL and body["texts"] == TEXTS

    r = client.post("/v1/matching/embed", json={"texts": TEXTS, "images": [_b64(image)], "model": MODEL})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["text_embeddings"], local_pipe.embed_texts(TEXTS), atol=1e-5)
    np.testing.assert_allclose(r.json()["image_embeddings"], local_pipe.embed_images([image]), atol=1e-5)

    # A bad input raised inside a replica comes back as the library's typed error, not a 500.
    bad = client.post("/v1/matching/similarity", json={"images": [base64.b64encode(b"not an image").decode()],
                                                       "texts": TEXTS, "model": MODEL})
    assert bad.status_code == 422, bad.text
    assert bad.json()["error"]["code"] == "ImageError" or "image" in bad.json()["error"]["message"].lower()


def test_concurrent_requests_form_batches_and_each_gets_its_own_rows(client, runner, local_pipe):
    texts = [" ".join(np.random.default_rng(i).choice(WORDS, 5)) + f" {i}" for i in range(48)]
    results: dict[int, object] = {}

    def send(i: int) -> None:
        r = client.post("/v1/matching/embed", json={"texts": [texts[i]], "model": MODEL})
        results[i] = r.json()["text_embeddings"][0] if r.status_code == 200 else r.text

    threads = [threading.Thread(target=send, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    expected = local_pipe.embed_texts(texts)
    for i in range(len(texts)):
        assert not isinstance(results.get(i), str), results.get(i)
        np.testing.assert_allclose(results[i], expected[i], atol=1e-5)  # its own row, not a neighbour's
    infos = [runner._handles["Embeddings"].info.remote().result(timeout_s=60) for _ in range(6)]
    assert max(info["max_batch"] for info in infos) > 1, infos  # requests were joined into batches
    assert all(info["threads"] == 1 for info in infos)


def test_a_killed_replica_loses_no_request_and_is_replaced(client, runner, local_pipe):
    app, deployment = f"{ray_serve.APP_PREFIX}-embeddings", "Embeddings"
    assert _replicas(app, deployment).get("RUNNING") == 2
    images = [_image(100 + k) for k in range(8)]
    bodies = [{"images": [_b64(im)], "texts": TEXTS, "model": MODEL} for im in images]
    expected = [local_pipe([im], TEXTS).similarity for im in images]
    # Big requests (hundreds of texts: about a second of work) keep both replicas busy at the kill.
    big = [[" ".join(np.random.default_rng(10_000 + 1000 * b + i).choice(WORDS, 6)) for i in range(300)]
           for b in range(4)]
    n_requests, n_threads = 200, 4
    answers: list[tuple[int, int, object]] = []
    big_answers: dict[int, tuple[int, object]] = {}
    done_after_kill = [0]
    killed = threading.Event()

    def load(worker: int) -> None:
        for i in range(worker, n_requests, n_threads):
            r = client.post("/v1/matching/similarity", json=bodies[i % len(bodies)])
            answers.append((i, r.status_code, r.json()))
            if killed.is_set():
                done_after_kill[0] += 1

    def send_big(b: int) -> None:
        r = client.post("/v1/matching/embed", json={"texts": big[b], "model": MODEL})
        big_answers[b] = (r.status_code, r.json())

    threads = [threading.Thread(target=load, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    deadline = time.time() + 120
    while len(answers) < 30 and time.time() < deadline:
        time.sleep(0.01)
    big_threads = [threading.Thread(target=send_big, args=(b,)) for b in range(len(big))]
    for t in big_threads:
        t.start()
    time.sleep(1.0)
    victim = next(a for a in ray.util.list_named_actors(all_namespaces=True)
                  if a["name"].startswith(f"SERVE_REPLICA::{app}#{deployment}#"))
    ray.kill(ray.get_actor(victim["name"], namespace=victim["namespace"]), no_restart=True)
    killed.set()
    for t in threads + big_threads:
        t.join(300)

    lost = [(i, status, body) for i, status, body in answers if status != 200]
    lost += [(b, status, body) for b, (status, body) in big_answers.items() if status != 200]
    assert len(answers) == n_requests and len(big_answers) == len(big) and not lost, lost[:3]
    for i, _, body in answers:
        np.testing.assert_allclose(body["similarity"], expected[i % len(bodies)], atol=1e-5)
    for b, (_, body) in big_answers.items():
        np.testing.assert_allclose(body["text_embeddings"], local_pipe.embed_texts(big[b]), atol=1e-5)
    assert done_after_kill[0] > 0  # the replica died mid-load, not after it
    # Requests that were running on the killed replica are sent again (runner.retried counts them);
    # whether any was in flight at the instant of the kill depends on scheduling, so the test asserts
    # the outcome (nothing lost, every answer right) rather than the count.
    deadline = time.time() + 120
    while _replicas(app, deployment).get("RUNNING") != 2 and time.time() < deadline:
        time.sleep(0.5)
    assert _replicas(app, deployment).get("RUNNING") == 2, _replicas(app, deployment)
    names = {a["name"] for a in ray.util.list_named_actors(all_namespaces=True)}
    assert victim["name"] not in names  # a new replica, not the old one back
    print(f"fault test: lost=0 of {n_requests + len(big)}, {done_after_kill[0]} answered after the kill, "
          f"{runner.retried} resent in all")


def test_run_batched_gives_each_request_what_its_endpoint_gives_alone(local_pipe):
    """Record, batch, replay (no cluster): one pipeline call per method for all requests, answers equal
    to the endpoint run alone, and a bad input fails only its own request, with the library's error."""
    from mmbench.errors import TextError
    from mmbench.serve.batching import run_batched

    calls: list[int] = []
    real = type(local_pipe).embed_texts

    class Counting(type(local_pipe)):
        def embed_texts(self, texts, batch_size=None):
            calls.append(len(texts))
            return real(self, texts, batch_size)

    pipe = Counting(local_pipe.backend, local_pipe.spec)
    requests = [(ENDPOINTS["matching.similarity"], pipe, {"images": [_image(1)], "texts": TEXTS[:2]}),
                (ENDPOINTS["matching.embed"], pipe, {"texts": TEXTS}),
                (ENDPOINTS["matching.zero-shot"], pipe, {"image": _image(2), "labels": ["circle", "square"]}),
                (ENDPOINTS["matching.similarity"], pipe, {"images": [_image(3)], "texts": ["a red circle", "  "]})]
    outcomes = run_batched(requests)
    assert calls[0] == 2 + 4 + 2 * 3  # the first call held every request's texts (zero-shot: 2 labels x 3 templates)
    for (endpoint, _, inputs), (status, value) in zip(requests[:3], outcomes[:3]):
        alone = endpoint.run(local_pipe, **inputs)
        assert status == "ok" and value.keys() == alone.keys()
        for key in ("similarity", "probs", "text_embeddings"):
            if key in alone:
                np.testing.assert_allclose(value[key], alone[key], atol=1e-5)
        if "scores" in alone:
            assert value["top"] == alone["top"]
            np.testing.assert_allclose(list(value["scores"].values()), list(alone["scores"].values()), atol=1e-5)
    status, err = outcomes[3]
    assert status == "error" and isinstance(err, TextError) and "empty" in str(err).lower()


def test_serve_config_yaml_parses_and_builds_the_application():
    import yaml
    from ray.serve.deployment import Application
    from ray.serve.schema import ServeDeploySchema

    config = ServeDeploySchema.parse_obj(yaml.safe_load(CONFIG.read_text()))
    (app,) = config.applications
    module, _, attr = app.import_path.partition(":")
    assert (module, attr) == ("mmbench.serve.ray_serve", "build_app")
    built = ray_serve.build_app(app.args)
    assert isinstance(built, Application)
    names = {d.name for d in app.deployments}
    assert names == {"Ingress", *ray_serve.FAMILIES}  # every override names a real deployment
    assert all(ray_serve.family_of(e) in ray_serve.FAMILIES for e in ENDPOINTS)
    with pytest.raises(ValueError, match="unknown families"):
        ray_serve.build_app({"families": ["Nope"]})


@pytest.mark.slow
def test_serve_config_application_answers_over_http(runner):
    """The ``serve deploy`` path: Ray Serve's proxy -> Ingress (create_app) -> family replicas."""
    import json
    import urllib.request

    from ray.serve import RunTarget

    port = serve.context._get_global_client().http_config.port
    app = ray_serve.build_app({"families": ["Embeddings"], "models": {"image-text-matching": MODEL},
                               "replicas": 1, "num_cpus": 0.25, "threads": 1, "ingress_cpus": 0.25})
    serve.run_many([RunTarget(app, name="mmbench-config", route_prefix="/")], wait_for_applications_running=False)
    try:
        deadline = time.time() + 300
        while serve.status().applications["mmbench-config"].status != "RUNNING" and time.time() < deadline:
            time.sleep(0.5)
        assert serve.status().applications["mmbench-config"].status == "RUNNING"
        image = _image(0)
        req = urllib.request.Request(f"http://127.0.0.1:{port}/v1/matching/similarity", method="POST",
                                     data=json.dumps({"images": [_b64(image)], "texts": TEXTS, "model": MODEL}).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=120) as r:
            body = json.loads(r.read())
        expected = mmbench.pipeline("image-text-matching", model=MODEL)([image], TEXTS).similarity
        np.testing.assert_allclose(body["similarity"], expected, atol=1e-5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=60) as r:
            assert r.status == 200
    finally:
        serve.delete("mmbench-config")
