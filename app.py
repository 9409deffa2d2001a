"""Entry point of the mmbench web app: ``python app.py`` (or ``mmbench app``, or ``gradio app.py``).

The port comes from ``GRADIO_SERVER_PORT`` or ``PORT`` when set (hosting platforms set one),
else Gradio's default 7860. Building the app is cheap — models load on the first request — so
``demo`` is created at import time for tools that look for it (Hugging Face Spaces, ``gradio app.py``).
Prometheus metrics are served at ``/metrics`` on the same port.
"""

from mmbench.ui.app import build_app, configure_logging, launch_kwargs
from mmbench.ui.metrics_endpoint import serve

demo = build_app()

if __name__ == "__main__":
    configure_logging()
    serve(demo, **launch_kwargs())  # demo.launch() plus Prometheus metrics at /metrics
