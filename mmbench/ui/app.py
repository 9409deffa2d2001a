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
from . import locale
from .common import TabParts, report_on
from .compression_tab import TAB_TITLE as COMPRESSION_TITLE
from .compression_tab import build_compression_tab
from .explain_panel import TAB_TITLE as EXPLAIN_TITLE
from .explain_panel import build_explain_tab
from .face_tab import TAB_TITLE as FACE_TITLE
from .face_tab import build_face_tab
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
    TabSpec(FACE_TITLE, "faces", build_face_tab),
    TabSpec(AUDIO_TITLE, "audio", build_audio_tab),
    TabSpec(MONITORING_TITLE, "monitoring", build_monitoring_tab),
    TabSpec(COMPRESSION_TITLE, "compression", build_compression_tab),
]

#: Upload limit per file (Gradio refuses larger uploads before they reach a handler).
MAX_FILE_SIZE = "25mb"
#: Requests waiting in the queue beyond this are refused with "queue full" instead of piling up.
QUEUE_MAX_SIZE = 64


def header_markdown() -> list[str]:
    """What mmbench is and which model tier is in use (read from the environment, nothing loaded): the
    title, the introduction and the tier, one Markdown each (each one catalogue message, which the
    browser shows in its language)."""
    import mmbench
    from mmbench.loading import TASK_PIPELINES

    planned = sorted(set(mmbench.tasks()) - set(TASK_PIPELINES))
    tier = "app.tier_offline" if mmbench.offline_mode() else "app.tier_online"
    coming = f" ({', '.join(t.replace('-', ' ') for t in planned)})" if planned else ""  # task names: as in the registry
    return [f"# mmbench {mmbench.__version__} — {locale.T('app.title')}", f"{locale.T('app.intro')}{coming}",
            str(locale.T(tier))]


#: The columns of the "Models" table (``app.col_<name>`` in the catalogue).
MODEL_COLUMNS = ("model", "task", "tier", "status", "licence", "size", "params", "good_for")


def models_table() -> tuple[list[str], list[list[Any]]]:
    """Headers and rows of the registry table shown in the "Models" tab."""
    from mmbench.i18n.models import good_for_key
    from mmbench.registry import list_models

    headers = [locale.tr(f"app.col_{name}") for name in MODEL_COLUMNS]  # in the request's language
    rows = []
    # ready models first, then by task, online before offline
    for spec in sorted(list_models(), key=lambda s: (not s.ready, s.task, s.tier != "online", s.name)):
        row = spec.as_row()
        params = f"{row['params'] / 1e6:.1f} M" if row["params"] else "—"
        size = f"{row['size_mb']:g}" if row["size_mb"] else "—"
        rows.append([row["name"], row["task"], _registry_text(f"tier.{spec.tier}", spec.tier),
                     _status_text(spec), row["licence"], size, params,
                     _registry_text(good_for_key(spec.name), row["good_for"])])
    return headers, rows


def _registry_text(key: str, english: str) -> str:
    """A registry cell (``models.<key>`` in the catalogue) in the request's language; as written when the
    catalogue has no entry for it."""
    from mmbench import i18n

    return locale.tr(f"models.{key}") if i18n.has(f"models.{key}") else english


def _status_text(spec: Any) -> str:
    status = _registry_text(f"status.{spec.status}", spec.status)
    return status if spec.issue is None else locale.tr("models.status.issue", status=status, issue=spec.issue)


def build_models_tab() -> gr.Dataframe:
    """The registry, as a table: every model mmbench knows, its tier, status and licence."""
    gr.Markdown(locale.T("app.models_intro"))
    headers, rows = models_table()
    return gr.Dataframe(rows, headers=headers, interactive=False, wrap=True, max_height=2000, elem_id="models-table",
                        column_widths=["15%", "14%", "7%", "10%", "12%", "6%", "8%", "28%"])


def localised_models_table() -> Any:
    """The "Models" table with its column names in the request's language (Gradio does not translate
    a table's headers in the browser)."""
    headers, rows = models_table()
    return gr.Dataframe(rows, headers=headers)


def localise_on_load(demo: gr.Blocks) -> None:
    """What the browser cannot translate by itself, put in the user's language when the page opens:
    the captions of examples and the column names of empty tables (their English text is looked up
    in the catalogue). English pages are left as built."""
    from .. import i18n

    def translatable(texts: Any) -> bool:
        return any(isinstance(t, str) and i18n.translate_message(t, "zh") != t for t in texts or [])

    def keyed(texts: Any) -> bool:  # Gradio shows an examples table's column names untranslated
        return any("__i18n__" in str(t) for t in texts or [])

    datasets = [b for b in demo.blocks.values() if isinstance(b, gr.Dataset)
                and (translatable(b.sample_labels) or keyed(b.headers))]
    tables = [b for b in demo.blocks.values() if isinstance(b, gr.Dataframe) and b.elem_id != "models-table"
              and not (b.value or {}).get("data") and translatable((b.value or {}).get("headers"))]
    if not datasets and not tables:
        return

    def localise() -> list[Any]:
        updates: list[Any] = []
        for d in datasets:
            change: dict[str, Any] = {}
            if keyed(d.headers):
                change["headers"] = [locale.resolve(h) for h in d.headers]
            if d.sample_labels and locale.lang() != i18n.DEFAULT_LANG:
                change["sample_labels"] = [locale.tr_text(str(t)) for t in d.sample_labels]
            updates.append(gr.Dataset(**change) if change else gr.skip())
        for t in tables:
            english = locale.lang() == i18n.DEFAULT_LANG
            updates.append(gr.skip() if english else gr.Dataframe(
                value={"headers": [locale.tr_text(str(h)) for h in t.value["headers"]], "data": []}))
        return updates

    demo.load(localise, None, [*datasets, *tables], queue=False, show_progress="hidden", api_visibility="private")


class TranslatedBlocks(gr.Blocks):
    """``gr.Blocks`` that serves the catalogue's translations and the header's language switch however
    it is launched: ``launch()`` without ``i18n=`` and ``js=`` would otherwise drop them (mounted in
    FastAPI, pass ``i18n=locale.gradio_i18n(), js=locale.SWITCH_JS`` to ``gr.mount_gradio_app``)."""

    def launch(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("i18n") is None:
            kwargs["i18n"] = locale.gradio_i18n()
        if kwargs.get("js") is None:
            kwargs["js"] = locale.SWITCH_JS
        return super().launch(*args, **kwargs)


def tab_ids() -> list[str]:
    """The id of every top-level tab, in display order (what ``?tab=`` accepts)."""
    return [tab.id for tab in TABS] + ["models"]


def tab_from_query(request: gr.Request) -> Any:
    """Select the tab named by the page's ``?tab=<id>`` query parameter (case and spaces ignored)."""
    wanted = str(dict(getattr(request, "query_params", None) or {}).get("tab", "")).strip().lower()
    return gr.Tabs(selected=wanted) if wanted in tab_ids() else gr.skip()


def build_app() -> gr.Blocks:
    """Build the app (cheap: no model is loaded and torch is not imported)."""
    with TranslatedBlocks(title="mmbench", analytics_enabled=False) as demo:
        demo.i18n_instance = locale.gradio_i18n()  # what `mount_gradio_app` serves (`launch` too, below)
        with gr.Row(equal_height=False):
            with gr.Column(scale=8):
                title, intro, tier = header_markdown()
                gr.Markdown(title, elem_id="app-header")
                gr.Markdown(intro, elem_id="app-intro")
                gr.Markdown(tier, elem_id="app-tier")
            gr.HTML(locale.SWITCH_HTML, elem_id="app-language", scale=1, min_width=120, padding=False)
        with gr.Tabs(elem_id="app-tabs") as tabs:
            for tab in TABS:
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}"):
                    parts = tab.build()
                for event in parts.load_events:
                    loaded = demo.load(event.fn, event.inputs, event.outputs, api_visibility=event.api_visibility,
                                       show_progress="minimal", concurrency_id=event.concurrency_id,
                                       concurrency_limit=event.concurrency_limit)
                    if event.outputs and isinstance(event.outputs[0], gr.HTML):  # a status block: its own error
                        report_on(event.outputs[0], loaded, clear=False)
            with gr.Tab(locale.T("app.tab_models"), id="models", elem_id="tab-models"):
                models = build_models_tab()
        demo.load(localised_models_table, None, [models], queue=False, show_progress="hidden",
                  api_visibility="private")
        localise_on_load(demo)
        # ?tab=<id> opens that tab (a deep link); an unknown id leaves the first tab open
        demo.load(tab_from_query, None, [tabs], queue=False, show_progress="hidden", api_visibility="private")
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
