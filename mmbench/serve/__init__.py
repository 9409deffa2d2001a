"""``mmbench serve``: the library's tasks as a versioned REST microservice (chapter 7.5.1).

* :mod:`.schemas` — typed input fields, their decoding (base64 / multipart) and OpenAPI schemas;
* :mod:`.tasks` — one :class:`~.tasks.Endpoint` row per task (``ENDPOINTS``), each calling a pipeline;
* :mod:`.runner` — the :class:`~.runner.Runner` protocol and the in-process :class:`~.runner.LocalRunner`;
  ``ray_serve.RayRunner`` runs the same endpoints on Ray Serve replicas;
* :mod:`.app` — ``create_app()``: the FastAPI app (typed errors, body cap, admission control,
  health/readiness, metrics, request ids, the Gradio UI mounted on the same server);
* :mod:`.server` — ``run()``: uvicorn with a graceful drain (what ``mmbench serve`` calls).

Nothing heavy is imported here.
"""
