"""Helpers shared by every tab of the web app: error reporting, model loading and status lines.

Nothing here knows about a particular task. Handlers wrap their body in :func:`user_errors` so
that a :class:`mmbench.MMBenchError` reaches the user as its own plain message and anything else is
logged with its traceback server-side and shown as a short apology — never as a traceback.
"""

from __future__ import annotations

import html
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from .. import telemetry
from ..errors import ImageError, MMBenchError

log = logging.getLogger("mmbench.ui")

#: Concurrency group of every event that runs a model: at most this many run at once, the rest queue.
MODEL_CONCURRENCY_ID = "model"
MODEL_CONCURRENCY_LIMIT = 2


def model_event_options() -> dict[str, Any]:
    """Keyword arguments for an event (or :class:`LoadEvent`) that runs a model: it joins the shared
    concurrency group, so at most :data:`MODEL_CONCURRENCY_LIMIT` model events run at once."""
    return {"concurrency_id": MODEL_CONCURRENCY_ID, "concurrency_limit": MODEL_CONCURRENCY_LIMIT}


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a mistake the user can fix: shown as-is, not logged as a server fault."""
    return gr.Error(message, print_exception=False)


def number_option(value: Any, lo: float, hi: float, *, not_a_number: str, out_of_range: str,
                  convert: Callable[[Any], Any] = float) -> Any:
    """``convert(value)`` (``float`` or ``int``) from a UI field, checked to lie in ``[lo, hi]``.

    Raises :func:`user_error` with ``not_a_number`` when ``convert`` fails and with ``out_of_range``
    when the number is outside the range. Both messages are :meth:`str.format` templates that may
    use ``{value}`` (the raw input), ``{number}`` (the converted one), ``{lo}`` and ``{hi}``:
    ``"Opacity must be between {lo} and {hi}, not {number:g}."``.
    """
    fields = {"value": value, "lo": lo, "hi": hi}
    try:
        number = convert(value)
    except (TypeError, ValueError):
        raise user_error(not_a_number.format(**fields)) from None
    if not lo <= number <= hi:
        raise user_error(out_of_range.format(number=number, **fields))
    return number


def slider_update(value: float, lo: float, hi: float, *, step: float = 1) -> dict[str, Any]:
    """A ``gr.update`` giving a ``gr.Slider`` the range ``[lo, hi]`` and ``value``, always valid for Gradio.

    Gradio rebuilds the slider from an update and refuses ``minimum >= maximum`` (the whole event
    fails, and every one of its outputs shows an "Error" badge), and it refuses a value outside the
    range when the slider is next used as an input. So ``value`` is clamped into the range, and a
    range of one value (a model that makes a single image size) hides the slider, holding that
    value over the valid range ``[lo, lo + step]``: say the value elsewhere (the status line).
    Every update sets ``visible``, so the next model's update shows the slider again.
    """
    if hi < lo:
        raise ValueError(f"empty slider range [{lo}, {hi}]")
    if hi == lo:
        return gr.update(value=lo, minimum=lo, maximum=lo + step, visible=False)
    return gr.update(value=min(max(value, lo), hi), minimum=lo, maximum=hi, visible=True)


@contextmanager
def user_errors(action: str) -> Iterator[None]:
    """Turn exceptions raised while doing ``action`` ("computing the similarity matrix") into ``gr.Error``.

    ``MMBenchError`` -> its message (written for users); ``gr.Error`` passes through; anything else
    is logged with its traceback and replaced by a message that points to the server log.

    Every handler goes through here, so this is where requests are counted for Prometheus
    (:func:`mmbench.telemetry.track_request`): one request per action, labelled with the task, model
    and tier :func:`load_pipeline` resolved, errors by type (the ``MMBenchError`` subclass,
    ``UserError`` for a handler's own check, ``UnexpectedError``).
    """
    with telemetry.track_request(action) as request:
        try:
            yield
        except gr.Error:
            request.error = request.error or telemetry.USER_ERROR
            raise
        except MMBenchError as err:
            request.error = telemetry.error_type(err)
            raise user_error(str(err)) from None
        except Exception:
            request.error = telemetry.UNEXPECTED_ERROR
            log.exception("Unexpected error while %s", action)
            raise gr.Error(f"Something went wrong while {action} (details in the server log).",
                           print_exception=False) from None


@dataclass
class LoadEvent:
    """An event a tab wants run when a browser opens the app (wired by ``build_app``)."""

    fn: Callable[..., Any]
    inputs: list[Any] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    api_visibility: str = "private"
    concurrency_id: str | None = None
    concurrency_limit: int | None = None


@dataclass
class TabParts:
    """What a ``build_<task>_tab()`` function hands back to ``build_app``."""

    components: dict[str, Any] = field(default_factory=dict)
    load_events: list[LoadEvent] = field(default_factory=list)


class UploadedImage(gr.Image):
    """``gr.Image`` that hands the uploaded file's path to mmbench without opening it.

    ``gr.Image`` decodes uploads with Pillow before the event handler runs, so a damaged file or a
    decompression bomb would fail inside Gradio with an unhelpful message. This variant passes the
    path on untouched and :mod:`mmbench.io` checks it (header first, then pixels). It renders
    exactly like ``gr.Image`` (``is_template``). Create it with ``type="filepath"``.
    """

    is_template = True

    def preprocess(self, payload: Any) -> str | None:
        if payload is not None and getattr(payload, "path", None) and not str(payload.url or "").startswith("data:"):
            return str(payload.path)
        return super().preprocess(payload)  # None, or a pasted data: URL (written to a file, not decoded)


# -- models -------------------------------------------------------------------------------------
def model_choices(task: str) -> tuple[list[str], str | None]:
    """Dropdown choices (registry labels with their tier) for ``task`` and the default choice.

    Reads the registry table only: nothing is imported or loaded.
    """
    from ..registry import default_spec, list_models

    specs = list_models(task, ready_only=True)
    default = default_spec(task, "online") or default_spec(task, "offline")
    ready = [s.label for s in specs]
    value = default.label if default is not None and default.label in ready else (ready[0] if ready else None)
    return ready, value


def load_pipeline(task: str, model: str | None) -> Any:
    """The task's pipeline for a dropdown value (cached process-wide by :func:`mmbench.pipeline`).

    Names the request's task, model and tier in the metrics: the model that actually ran (after a
    fallback), or the requested registry row when loading fails (``unknown`` for a name not in it).
    """
    import mmbench
    from ..registry import default_spec, get_spec

    try:
        spec = get_spec(model, task) if model else default_spec(task, "online") or default_spec(task, "offline")
    except MMBenchError:
        spec = None
    telemetry.set_labels(task=task, model=spec.name if spec else "unknown", tier=spec.tier if spec else "unknown")
    pipe = mmbench.pipeline(task, model=model or None)
    loaded = getattr(pipe, "spec", None)
    if loaded is not None:
        telemetry.set_labels(model=loaded.name, tier=loaded.tier)
    return pipe


def _callout(text: str, kind: str) -> str:
    colour = {"warning": "245, 158, 11", "info": "59, 130, 246"}[kind]
    return (f'<div style="border-left: 4px solid rgb({colour}); background: rgba({colour}, 0.12); '
            f'padding: 6px 10px; margin: 4px 0; border-radius: 4px;">{text}</div>')


def status_html(pipe: Any, extra_note: str = "") -> str:
    """The status block under a model dropdown: ``pipe.describe()``, the fallback notice, a note."""
    summary = pipe.describe(include_notice=False)
    parts = [f'<div><b>Active model:</b> <code>{html.escape(summary)}</code></div>']
    if pipe.notice:
        parts.append(_callout(f"<b>Fallback:</b> {html.escape(pipe.notice)}", "warning"))
    if extra_note:
        parts.append(_callout(html.escape(extra_note), "info"))
    return "".join(parts)


def pending_status_html(model_label: str | None) -> str:
    """Status shown before any model has loaded (the app loads models lazily)."""
    name = html.escape(model_label or "the default model")
    return (f"<div><b>Model:</b> <code>{name}</code> loads on first use (a few seconds). "
            "If an online model cannot be downloaded here, the offline tier is used and this line says so.</div>")


#: The hint under most model dropdowns: what the tier in brackets after each label means.
TIER_INFO = "Tier in brackets: online models download once, offline ones ship with mmbench."


def model_picker(task: str, *, label: str, elem_id: str, status_elem_id: str, info: str | None = TIER_INFO,
                 status_label: str = "Model status") -> tuple[gr.Dropdown, gr.HTML]:
    """Lay out a row with the model dropdown of ``task`` and its status block; return both components.

    The dropdown lists :func:`model_choices` with the default selected; the status block shows
    :func:`pending_status_html` until the tab's status handler (wired by the caller) replaces it.
    Call inside ``gr.Blocks``.
    """
    choices, default = model_choices(task)
    with gr.Row(equal_height=False):
        model = gr.Dropdown(choices, value=default, label=label, info=info, scale=1, elem_id=elem_id)
        status = gr.HTML(pending_status_html(default), label=status_label, elem_id=status_elem_id, padding=False)
    return model, status


# -- inputs -------------------------------------------------------------------------------------
def display_name(path: str | None, index: int | None = None, max_chars: int = 40) -> str:
    """Short label for an uploaded file: ``"3: cat.jpg"``."""
    name = Path(path).name if path else "image"
    if len(name) > max_chars:
        name = name[: max_chars - 1] + "…"
    return name if index is None else f"{index + 1}: {name}"


def gallery_paths(gallery: Sequence[Any] | None) -> list[str]:
    """File paths from a ``gr.Gallery(type="filepath")`` value (list of ``(path, caption)``)."""
    out = []
    for item in gallery or []:
        path = item[0] if isinstance(item, (tuple, list)) else item
        if path:
            out.append(str(path))
    return out


#: Uploads are shrunk so that their shorter side is at most this (the largest model input in the
#: registry is 224 px): a request or a user's stored gallery never holds dozens of full-size photos.
UPLOAD_SHORT_SIDE = 256


def shrink(image: Any, short_side: int = UPLOAD_SHORT_SIDE) -> Any:
    """``image`` resized (aspect kept) so its shorter side is ``short_side``, if it is larger."""
    from PIL import Image

    w, h = image.size
    scale = short_side / min(w, h)
    if scale >= 1:
        return image
    return image.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BICUBIC)


def validate_uploads(paths: Sequence[str], what: str = "Image") -> list[Any]:
    """Decode uploaded images with :func:`mmbench.io.validate_image`, then :func:`shrink` them.

    A single image's error is passed on as-is; with several, the message names the bad one
    (``"Image 3 (cat.gif): the image is not a recognised image file..."``).
    """
    from ..io import validate_image

    images = []
    for i, path in enumerate(paths):
        try:
            images.append(shrink(validate_image(path)))
        except ImageError as err:
            if len(paths) == 1:
                raise
            message = err.message[0].lower() + err.message[1:] if err.message[1:2].islower() else err.message
            raise ImageError(f"{what} {i + 1} ({display_name(path)}): {message}", hint=err.hint) from err
    return images


class SessionCancels:
    """The cancel event of each browser session's running generation, so a Stop button stops only
    that user's run. Bounded: beyond ``max_sessions`` the oldest sessions drop out."""

    def __init__(self, max_sessions: int = 1000) -> None:
        self.max_sessions = max_sessions
        self._events: "OrderedDict[str, threading.Event]" = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def session(request: Any) -> str:
        return str(getattr(request, "session_hash", None) or "local")

    def new(self, request: Any) -> threading.Event:
        """A fresh event for the run this session is starting (replaces its previous one)."""
        event = threading.Event()
        key = self.session(request)
        with self._lock:
            self._events[key] = event
            self._events.move_to_end(key)
            while len(self._events) > self.max_sessions:
                self._events.popitem(last=False)
        return event

    def stop(self, request: Any) -> str:
        """Set this session's event; the message for the UI."""
        with self._lock:
            event = self._events.get(self.session(request))
        if event is not None:
            event.set()
        return "Stopped." if event is not None else "Nothing to stop."
