"""Hosting polish of the web app (issue 14, part 4), without a browser: where an action's error shows,
the model picker after a fallback, ``?tab=`` deep links and examples in every tab.
(tests/test_app_e2e_tabs.py checks the same in chromium.)"""

from __future__ import annotations

from types import SimpleNamespace

import gradio as gr
import pytest

from mmbench.ui import common


# -- an action's error: once, by its button --------------------------------------------------------
def _failing(text):
    if text == "bad":
        raise common.user_error("That input is bad.")
    return text.upper(), "fine"


def _stream(n):
    yield "one"
    raise common.user_error("The stream broke.")


def test_report_on_shows_progress_and_errors_only_in_the_message_area():
    with gr.Blocks() as demo:
        box, out, status = gr.Textbox(), gr.Textbox(), gr.HTML("status stays")
        button = gr.Button()
        message = common.action_message("test-message")
        event = button.click(_failing, [box], [out, status])
        common.report_on(message, event)
    fns = list(demo.fns.values())
    main = next(f for f in fns if f.name == "_failing")
    assert [c._id for c in main.show_progress_on] == [message._id]  # no badge over `out` or `status`
    followers = [f for f in fns if f.trigger_after == main._id]
    assert {f.trigger_only_on_failure for f in followers} == {True, False}  # error shown; cleared on success
    assert all(f.outputs == [message] for f in followers)
    assert main.get_config()["show_progress_on"] == [message._id]
    clearing = [f for f in fns if f.fn is None and f.targets == main.targets]  # in the browser, at the click
    assert len(clearing) == 1 and clearing[0].js and clearing[0].outputs == [message]


def test_a_reported_error_raises_without_a_toast_and_is_kept_for_the_session(monkeypatch):
    from gradio.context import LocalContext

    quiet = common._quiet_errors(_failing)
    assert quiet("ok") == ("OK", "fine")
    token = LocalContext.request.set(SimpleNamespace(session_hash="alice"))
    try:
        with pytest.raises(gr.Error) as info:
            quiet("bad")
    finally:
        LocalContext.request.reset(token)
    assert info.value.message == "That input is bad." and info.value.visible is False  # API callers still get it
    shown = common._last_error(SimpleNamespace(session_hash="alice"))
    assert "That input is bad." in shown and "mmbench-error" in shown
    assert isinstance(common._last_error(SimpleNamespace(session_hash="alice")), type(gr.skip()))  # shown once
    assert isinstance(common._last_error(SimpleNamespace(session_hash="bob")), type(gr.skip()))  # not bob's


def test_a_reported_generator_stays_a_generator():
    import inspect

    quiet = common._quiet_errors(_stream)
    assert inspect.isgeneratorfunction(quiet)
    stream = quiet(2)
    assert next(stream) == "one"
    with pytest.raises(gr.Error) as info:
        next(stream)
    assert info.value.visible is False and info.value.message == "The stream broke."


def test_error_html_escapes_the_message():
    assert "&lt;script&gt;" in common.error_html("<script>")


# -- the model picker names the model that answers ---------------------------------------------------
class _Pipe:
    def __init__(self, label, notice=""):
        self.spec = SimpleNamespace(label=label)
        self.notice = notice

    def describe(self, include_notice=False):
        return self.spec.label


def test_after_a_fallback_the_picked_choice_names_the_model_that_answers():
    task = "image-text-matching"
    labels, default = common.model_choices(task)
    assert default is not None and "(online)" in default
    offline = next(label for label in labels if "(offline)" in label)
    status = common.status_html(_Pipe(offline, notice="could not load"))
    update = common.picker_choices(task, status, default)
    shown = dict((value, name) for name, value in update["choices"])
    assert set(shown) == set(labels)  # values unchanged: the next request tries the online model again
    assert shown[default].startswith(offline) and default in shown[default]
    assert all(shown[label] == label for label in labels if label != default)

    # the picked model answers itself: plain labels again
    again = common.picker_choices(task, common.status_html(_Pipe(offline)), offline)
    assert all(name == value for name, value in again["choices"])
    # a status that names no model yet (pending): nothing to do
    assert isinstance(common.picker_choices(task, common.pending_status_html(default), default), type(gr.skip()))


# -- the app: deep links, examples ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo():
    from mmbench.ui.app import build_app

    return build_app()


def test_a_deep_link_selects_its_tab_and_an_unknown_one_changes_nothing():
    from mmbench.ui.app import TABS, tab_from_query, tab_ids

    assert tab_ids() == [t.id for t in TABS] + ["models"]
    for tab in ("video", "compression", "models"):
        update = tab_from_query(SimpleNamespace(query_params={"tab": tab}))
        assert isinstance(update, gr.Tabs) and update.selected == tab
    assert tab_from_query(SimpleNamespace(query_params={"tab": " Video "})).selected == "video"
    for query in ({"tab": "nope"}, {}, {"tab": ""}):
        assert isinstance(tab_from_query(SimpleNamespace(query_params=query)), type(gr.skip()))


def _descendants(block):
    for child in getattr(block, "children", []) or []:
        yield child
        yield from _descendants(child)


def test_every_capability_tab_has_examples_and_an_action_message(demo):
    from mmbench.ui.app import TABS

    tabs = {b.elem_id: b for b in demo.blocks.values() if isinstance(b, gr.Tab)}
    for spec in TABS:
        inside = list(_descendants(tabs[f"tab-{spec.id}"]))
        assert any(isinstance(b, gr.Dataset) for b in inside), f"{spec.id}: no gr.Examples"
        assert any("mmbench-action-message" in (b.elem_classes or []) for b in inside), f"{spec.id}: no message area"


def test_no_event_of_the_app_puts_an_error_badge_on_a_model_status(demo):
    """A failing action must not paint its "Error" badge over the model status (it keeps its content)."""
    statuses = {b._id for b in demo.blocks.values() if str(getattr(b, "elem_id", "") or "").endswith("-status")}
    offenders = []
    for fn in demo.fns.values():
        targets = {c._id for c in (fn.show_progress_on or fn.outputs)}  # where its progress and badge show
        if fn.fn is not None and targets & statuses and not targets <= statuses:
            offenders.append(fn.name)
    assert not offenders, offenders


# -- Hugging Face Spaces ----------------------------------------------------------------------------------
def test_the_space_installs_the_debian_programs_the_app_calls():
    """``packages.txt`` (apt-get install, one package a line, no comments: Spaces pass each line to apt)
    holds the programs the offline tier runs: espeak-ng speaks, fluidsynth renders the composer's MIDI
    with the General MIDI soundfont."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    packages = (root / "packages.txt").read_text().split("\n")
    listed = [line for line in packages if line.strip()]
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9.+-]+", line) for line in listed), listed
    assert {"espeak-ng", "fluidsynth", "fluid-soundfont-gm"} <= set(listed)
    front = (root / "README.md").read_text().split("---")[1]
    assert "sdk: gradio" in front and "app_file: app.py" in front and (root / "app.py").is_file()
    assert "packages.txt" in (root / "README.md").read_text()  # the hosting section says what it is for
