"""Helpers shared by every tab of the web app: error reporting, model loading and status lines.

Nothing here knows about a particular task. Handlers wrap their body in :func:`user_errors` so
that a :class:`mmbench.MMBenchError` reaches the user as its own plain message and anything else is
logged with its traceback server-side and shown as a short apology — never as a traceback.
"""

from __future__ import annotations

import functools
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

from .. import i18n, telemetry
from ..errors import ImageError, MMBenchError
from . import locale
from .locale import T

log = logging.getLogger("mmbench.ui")

#: Concurrency group of every event that runs a model: at most this many run at once, the rest queue.
MODEL_CONCURRENCY_ID = "model"
MODEL_CONCURRENCY_LIMIT = 2


def model_event_options() -> dict[str, Any]:
    """Keyword arguments for an event (or :class:`LoadEvent`) that runs a model: it joins the shared
    concurrency group, so at most :data:`MODEL_CONCURRENCY_LIMIT` model events run at once."""
    return {"concurrency_id": MODEL_CONCURRENCY_ID, "concurrency_limit": MODEL_CONCURRENCY_LIMIT}


def user_error(message: str) -> gr.Error:
    """A ``gr.Error`` for a mistake the user can fix: shown in the user's language (``message`` is
    English; the catalogue's template it matches gives the translation), not logged as a server fault."""
    return gr.Error(locale.tr_text(message), print_exception=False)


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
            raise gr.Error(i18n.translate_error(err, locale.lang()), print_exception=False) from None
        except Exception:
            request.error = telemetry.UNEXPECTED_ERROR
            log.exception("Unexpected error while %s", action)
            raise gr.Error(locale.tr("common.unexpected_error", action=locale.tr_text(action)),
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


class TranslatedDataframe(gr.Dataframe):
    """``gr.Dataframe`` whose column names come out in the request's language (they are English text
    the catalogue knows): Gradio does not translate a table's headers in the browser. Renders exactly
    like ``gr.Dataframe`` (``is_template``); handlers return rows as usual."""

    is_template = True

    def postprocess(self, value: Any) -> Any:
        data = super().postprocess(value)
        headers = getattr(data, "headers", None)
        if headers and locale.lang() != i18n.DEFAULT_LANG:
            data.headers = [locale.tr_text(str(h)) for h in headers]
        return data


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
    label = getattr(getattr(pipe, "spec", None), "label", "")
    parts = [f'<div data-answering="{html.escape(str(label))}"><b>{locale.tr("common.active_model")}</b> '
             f'<code>{html.escape(locale.tr_text(summary))}</code></div>']
    if pipe.notice:
        parts.append(_callout(f"<b>{locale.tr('common.fallback')}</b> {html.escape(locale.tr_text(pipe.notice))}",
                              "warning"))
    if extra_note:
        parts.append(_callout(html.escape(locale.tr_text(extra_note)), "info"))
    return "".join(parts)


def pending_status_html(model_label: str | None) -> str:
    """Status shown before any model has loaded (the app loads models lazily)."""
    name = html.escape(model_label) if model_label else locale.text("common.default_model")
    return f"<div><code>{name}</code> {locale.text('common.loads_on_first_use')}</div>"


#: The hint under most model dropdowns: what the tier in brackets after each label means.
TIER_INFO = T("common.tier_info")
#: :data:`TIER_INFO` plus "the status shows which model answered".
TIER_INFO_STATUS = T("common.tier_info_status")


def model_picker(task: str, *, label: Any, elem_id: str, status_elem_id: str, info: Any = TIER_INFO,
                 status_label: Any = T("common.model_status")) -> tuple[gr.Dropdown, gr.HTML]:
    """Lay out a row with the model dropdown of ``task`` and its status block; return both components.

    The dropdown lists :func:`model_choices` with the default selected; the status block shows
    :func:`pending_status_html` until the tab's status handler (wired by the caller) replaces it.
    Call inside ``gr.Blocks``.
    """
    choices, default = model_choices(task)
    with gr.Row(equal_height=False):
        model = gr.Dropdown(choices, value=default, label=label, info=info, scale=1, elem_id=elem_id)
        status = gr.HTML(pending_status_html(default), label=status_label, elem_id=status_elem_id, padding=False)
    # after a fallback the picker names the model that answers (the status says why)
    status.change(functools.partial(picker_choices, task), [status, model], [model], queue=False,
                  show_progress="hidden", api_visibility="private")
    return model, status


#: How the picker shows an online choice that could not load: the model that answers for it first.
FALLBACK_CHOICE = i18n.tr("common.fallback_choice")  # English; shown in the user's language


def picker_choices(task: str, status: str | None, model: str | None) -> Any:
    """The picker's choices after a status update: when the status names another model than the
    one picked (an online model fell back), the picked choice is shown as the model that answers;
    its value stays, so the next request tries the online model again. Reads the registry only."""
    return relabel_choices(model_choices(task)[0], status, model)


def relabel_choices(labels: Sequence[str], status: str | None, model: str | None) -> Any:
    """:func:`picker_choices` for a picker whose choices are ``labels``."""
    import re

    found = re.search(r'data-answering="([^"]*)"', status or "")
    if found is None or not model:
        return gr.skip()
    answering = html.unescape(found.group(1))
    relabelled = [(locale.tr("common.fallback_choice", answering=answering, requested=label)
                   if label == model and answering and answering != model else label, label) for label in labels]
    return gr.update(choices=relabelled)


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
        return locale.tr("common.stopped") if event is not None else locale.tr("common.nothing_to_stop")


# -- where errors and progress show ---------------------------------------------------------------
#: Each session's last error message, read by the ``.failure`` follow-up of a :func:`report_on` event.
_LAST_ERRORS: "OrderedDict[str, str]" = OrderedDict()
_LAST_ERRORS_MAX = 1000
_LOCK = threading.Lock()


def _session_hash() -> str | None:
    from gradio.context import LocalContext

    return getattr(LocalContext.request.get(None), "session_hash", None)


def _quiet_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` whose ``gr.Error`` is kept for this session and re-raised without a toast (API callers
    still get the message). Generators stay generators (Gradio streams them)."""
    import inspect

    def keep(err: gr.Error) -> gr.Error:
        session = _session_hash()
        if session is not None:
            with _LOCK:
                _LAST_ERRORS[session] = str(err.message)
                _LAST_ERRORS.move_to_end(session)
                while len(_LAST_ERRORS) > _LAST_ERRORS_MAX:
                    _LAST_ERRORS.popitem(last=False)
        return gr.Error(err.message, visible=False, print_exception=False)

    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args: Any, **kwargs: Any) -> Any:
            try:
                yield from fn(*args, **kwargs)
            except gr.Error as err:
                raise keep(err) from None
        return stream

    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error as err:
            raise keep(err) from None
    return call


def error_html(message: str) -> str:
    """The message an action leaves by its button when it fails (a red callout)."""
    return (f'<div class="mmbench-error" style="border-left: 4px solid rgb(220, 38, 38); background: '
            f'rgba(220, 38, 38, 0.10); padding: 6px 10px; margin: 4px 0; border-radius: 4px;">'
            f'⚠ {html.escape(message)}</div>')


def _last_error(request: gr.Request) -> str:
    with _LOCK:
        message = _LAST_ERRORS.pop(getattr(request, "session_hash", None) or "", None)
    return error_html(message) if message else gr.skip()


def action_message(elem_id: str) -> gr.HTML:
    """An empty area under an action's button: its progress and, when it fails, its error message."""
    return gr.HTML("", elem_id=elem_id, padding=False, elem_classes=["mmbench-action-message"])


def report_on(message: Any, *events: Any, clear: bool = True) -> None:
    """Show the progress and the error of ``events`` in ``message`` only (an :func:`action_message`,
    or the status block of a status event), once, instead of a toast plus an "Error" badge over
    every output: outputs that were fine keep their content.

    Each event's handler is wrapped so that its ``gr.Error`` raises without a toast (API callers
    get the same error as before), and a ``.failure`` follow-up writes the message into
    ``message``; with ``clear``, a success empties it. Call inside the ``gr.Blocks`` that owns the
    events, right after wiring them.
    """
    from gradio.context import Context

    root = Context.root_block
    for event in events:
        block_fn = root.fns[event["id"]]
        block_fn.show_progress_on = [message]
        if block_fn.fn is not None and not getattr(block_fn.fn, "_mmbench_quiet", False):
            block_fn.fn = _quiet_errors(block_fn.fn)
            block_fn.fn._mmbench_quiet = True  # type: ignore[attr-defined]
        event.update(block_fn.get_config())  # `cancels=[event]` finds the event by its config
        event.failure(_last_error, None, [message], queue=False, show_progress="hidden",
                      api_visibility="private")
        if clear:
            event.success(lambda: "", None, [message], queue=False, show_progress="hidden",
                          api_visibility="private")
            for block_id, trigger in block_fn.targets:  # a new run hides the last run's error at once
                listener = getattr(root.blocks.get(block_id), trigger, None)
                if listener is not None:
                    listener(None, None, [message], js="() => ''", queue=False, show_progress="hidden",
                             api_visibility="private")
