"""Every top-level tab of the web app in a real browser (issue 14): Playwright drives Debian's chromium.

For each tab: it opens through a ``?tab=<id>`` deep link with no error shown before anything is
pressed, its main action runs on its own example and the test checks what the user sees (a
heatmap, a caption with per-word maps, images, audio the browser can play, a transcript, top-k
actions, tables and plots), and one bad input gives one readable message by the action's button
while the other outputs keep their content. Elements are found by ``elem_id`` (labels change with
the language). A screenshot of each tab is saved under ``$MMBENCH_E2E_ARTIFACTS`` (default: the
test's temporary folder).

Then the same in Chinese (``test_each_tab_works_in_chinese``: a zh-CN browser on ``?lang=zh``): each
tab opens with no error, its title and main button read the catalogue's Chinese (from
:mod:`mmbench.i18n`), its bad input's message is Chinese and its example's result appears (lighter
checks than the English ones; one page, tabs switched in it).

One app server for the module (``app_url``, offline tier) and one browser; small offline models
and few steps, so the file runs in a few minutes on two cores.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from conftest import E2E
from playwright.sync_api import expect

#: Longest wait for one action (the page's model-status events queue first on a busy machine).
ACTION_MS = 120_000

pytestmark = E2E


@pytest.fixture(scope="module", autouse=True)
def slow_expectations():
    """``expect`` waits as long as an action may take (Playwright's default is 5 s)."""
    expect.set_options(timeout=ACTION_MS)
    yield
    expect.set_options(timeout=5_000)


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    folder = os.environ.get("MMBENCH_E2E_ARTIFACTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("e2e-artefacts")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def context(browser):
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="en-US")
    ctx.set_default_timeout(ACTION_MS)
    yield ctx
    ctx.close()


def open_tab(context, app_url: str, tab: str):
    """A page on ``?tab=<tab>``: the tab is selected and its panel shown."""
    page = context.new_page()
    page.goto(f"{app_url}?tab={tab}")
    expect(page.locator(f"#tab-{tab}")).to_be_visible()
    return page


def wait_for_status(page, status_id: str) -> None:
    """The tab's model-status event has answered (the status names the model that answers)."""
    page.locator(f"#{status_id} [data-answering]").first.wait_for()


def assert_no_error_shown(page, tab: str) -> None:
    """No toast, no "Error" badge over a component, no action message in the tab."""
    panel = page.locator(f"#tab-{tab}")
    assert panel.locator(".error").count() == 0, panel.locator(".error").all_inner_texts()
    assert page.locator("[data-testid=toast-body]").count() == 0, \
        page.locator("[data-testid=toast-body]").all_inner_texts()
    assert panel.locator(".mmbench-error").count() == 0, panel.locator(".mmbench-error").all_inner_texts()


def assert_one_message(page, tab: str, message_id: str) -> str:
    """The failed action's message, shown once by its button, and nothing else in red."""
    message = page.locator(f"#{message_id} .mmbench-error")
    expect(message).to_be_visible()
    text = message.inner_text().strip()
    assert len(text) > 10, text
    panel = page.locator(f"#tab-{tab}")
    assert panel.locator(".mmbench-error").count() == 1
    assert panel.locator(".error").count() == 0, panel.locator(".error").all_inner_texts()  # no badges
    assert page.locator("[data-testid=toast-body]").count() == 0  # not a toast as well
    return text


def click_example(page, examples_id: str, row: int = 0) -> None:
    """Click one row of a ``gr.Examples`` (a table, or buttons when the examples have labels)."""
    page.locator(f"#{examples_id} tbody tr, #{examples_id} button.gallery-item").nth(row).click()


def shot(page, artefacts: Path, name: str) -> None:
    page.screenshot(path=str(artefacts / f"{name}.png"), full_page=True)


def image_width(page, locator) -> int:
    locator.wait_for()
    return page.evaluate("(img) => img.complete ? img.naturalWidth : 0", locator.element_handle())


def playable_seconds(page, player_id: str) -> float:
    """The duration the browser decodes from the audio the player offers (its download link)."""
    link = page.locator(f"#{player_id} a[download]").first
    link.wait_for(state="attached")
    return page.evaluate("""async (href) => {
        const audio = new Audio(href);
        await new Promise((ok, fail) => { audio.onloadedmetadata = ok; audio.onerror = fail; });
        return audio.duration; }""", link.get_attribute("href"))


# -- the tabs ---------------------------------------------------------------------------------------
def test_every_tab_has_a_browser_test_here():
    from mmbench.ui.app import tab_ids

    tested = {name.removeprefix("test_").removesuffix("_tab").replace("_", "-")
              for name in globals() if name.startswith("test_") and name.endswith("_tab")}
    assert set(tab_ids()) <= tested, sorted(set(tab_ids()) - tested)
    assert set(tab_ids()) == {*ZH_BUTTONS, "models"}  # and in Chinese: test_each_tab_works_in_chinese


def test_matching_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "matching")
    wait_for_status(page, "matching-status")
    assert_no_error_shown(page, "matching")
    # the picker names the model that answers (the online default cannot load offline)
    expect(page.locator("#matching-model input")).to_have_value(re.compile(r"^mmbench-tiny-clip .*openclip"))

    page.locator("#matching-texts textarea").fill("a red circle")
    page.locator("#matching-similarity-button").click()  # no image yet
    assert_one_message(page, "matching", "matching-similarity-message")
    assert page.locator("#matching-status [data-answering]").count() == 1  # the status kept its content

    click_example(page, "matching-examples-procedural")
    page.locator("#matching-image img").first.wait_for()
    page.locator("#matching-similarity-button").click()
    assert image_width(page, page.locator("#matching-heatmap img").first) > 300
    expect(page.locator("#matching-similarity-message .mmbench-error")).to_have_count(0)  # cleared by the success
    assert_no_error_shown(page, "matching")
    shot(page, artefacts, "matching")


def test_fusion_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "fusion")
    assert_no_error_shown(page, "fusion")

    for box in page.locator("#fusion-strategies input[type=checkbox]").all():
        box.uncheck()
    page.locator("#fusion-run").click()
    assert_one_message(page, "fusion", "fusion-message")

    click_example(page, "fusion-examples")
    expect(page.locator("#fusion-strategies input[type=checkbox]:checked")).not_to_have_count(0)
    page.locator("#fusion-run").click()
    chosen = page.locator("#fusion-strategies input[type=checkbox]:checked").count()
    expect(page.locator("#fusion-results [role=row][data-index]")).to_have_count(chosen)  # one row per strategy
    assert image_width(page, page.locator("#fusion-bars img").first) > 200
    assert image_width(page, page.locator("#fusion-robustness-plot img").first) > 200
    assert_no_error_shown(page, "fusion")
    shot(page, artefacts, "fusion")


def test_explain_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "explain")
    wait_for_status(page, "explain-status")
    assert_no_error_shown(page, "explain")

    click_example(page, "explain-examples")  # chelsea the cat
    expect(page.locator("#explain-predictions")).to_contain_text("Egyptian cat")
    for box in page.locator("#explain-methods input[type=checkbox]").all():
        box.uncheck()
    page.locator("#explain-button").click()
    assert_one_message(page, "explain", "explain-message")
    expect(page.locator("#explain-predictions")).to_contain_text("Egyptian cat")  # kept

    page.locator("#explain-methods input[type=checkbox]").first.check()
    page.locator("#explain-button").click()
    heatmap = page.locator("#explain-gallery img").first
    assert image_width(page, heatmap) > 100
    expect(page.locator("#explain-gallery")).to_contain_text("Egyptian cat")
    assert_no_error_shown(page, "explain")
    shot(page, artefacts, "explain")


def test_speech_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "speech")  # its model loads on first use
    assert_no_error_shown(page, "speech")

    page.locator("#speech-transcribe").click()  # nothing recorded yet
    assert_one_message(page, "speech", "speech-message")

    click_example(page, "speech-examples")
    page.locator("#speech-audio a[download], #speech-audio audio").first.wait_for(state="attached")
    page.locator("#speech-transcribe").click()
    transcript = page.locator("#speech-transcript textarea")
    expect(transcript).not_to_have_value("")
    words = transcript.input_value().split()
    assert len(words) >= 3, words
    expect(page.locator("#speech-segments [role=row][data-index]")).not_to_have_count(0)
    wait_for_status(page, "speech-status")  # names the model that answered
    assert image_width(page, page.locator("#speech-views img").first) > 300
    assert_no_error_shown(page, "speech")
    shot(page, artefacts, "speech")


def test_captioning_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "captioning")
    wait_for_status(page, "captioning-status")
    assert_no_error_shown(page, "captioning")

    page.locator("#captioning-button").click()  # no image yet
    assert_one_message(page, "captioning", "captioning-message")

    click_example(page, "captioning-examples-procedural")
    page.locator("#captioning-image img").first.wait_for()
    page.locator("#captioning-button").click()
    caption = page.locator("#captioning-caption textarea")
    expect(caption).not_to_have_value("")
    assert len(caption.input_value().split()) >= 2
    assert image_width(page, page.locator("#captioning-overlay img").first) > 32  # the chosen word's map
    expect(page.locator("#captioning-tokens [role=row][data-index]")).not_to_have_count(0)
    # another word of the caption: another map, no recomputation
    page.locator("#captioning-word input").click()
    options = page.locator("[role=listbox] [role=option], ul.options li")
    assert options.count() >= 2
    options.nth(1).click()
    assert image_width(page, page.locator("#captioning-overlay img").first) > 32
    assert_no_error_shown(page, "captioning")
    shot(page, artefacts, "captioning")


def test_text_to_image_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "text-to-image")
    wait_for_status(page, "t2i-status")
    assert_no_error_shown(page, "text-to-image")

    page.locator("#t2i-button").click()  # empty prompt
    assert_one_message(page, "text-to-image", "t2i-message")
    assert page.locator("#t2i-status [data-answering]").count() == 1

    click_example(page, "t2i-examples-world")
    expect(page.locator("#t2i-prompt textarea")).not_to_have_value("")
    page.locator("#t2i-button").click()
    expect(page.locator("#t2i-gallery img")).to_have_count(4)
    assert image_width(page, page.locator("#t2i-gallery img").first) >= 32
    assert_no_error_shown(page, "text-to-image")
    shot(page, artefacts, "text-to-image")


def test_video_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "video")  # its model loads on first use
    assert_no_error_shown(page, "video")

    page.locator("#video-classify").click()  # no video yet
    assert_one_message(page, "video", "video-message")

    click_example(page, "video-examples")  # a bouncing shape
    page.locator("#video-make-example").click()
    page.locator("#video-input video").first.wait_for()
    page.locator("#video-classify").click()
    top = page.locator("#video-top")
    expect(top).to_contain_text("bouncing")
    wait_for_status(page, "video-status")
    assert image_width(page, page.locator("#video-frame-strip img").first) > 300
    assert_no_error_shown(page, "video")
    shot(page, artefacts, "video")


def test_faces_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "faces")  # its model loads on first use
    assert_no_error_shown(page, "faces")

    page.locator("#face-run").click()  # no photo yet
    assert_one_message(page, "faces", "face-message")

    click_example(page, "face-examples", 0)  # the astronaut: one face, smiling
    page.locator("#face-image img").first.wait_for()
    page.locator("#face-run").click()
    rows = page.locator("#face-table [role=row][data-index]")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("happy")  # model output: not translated
    wait_for_status(page, "face-status")
    assert image_width(page, page.locator("#face-annotated img").first) > 100
    assert image_width(page, page.locator("#face-bars img").first) > 200
    assert_no_error_shown(page, "faces")
    shot(page, artefacts, "faces")


def test_audio_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "audio")
    assert_no_error_shown(page, "audio")

    page.locator("#audio-generate").click()  # nothing typed
    assert_one_message(page, "audio", "audio-message")

    click_example(page, "audio-examples")  # speech
    expect(page.locator("#audio-prompt textarea")).not_to_have_value("")
    page.locator("#audio-generate").click()
    assert playable_seconds(page, "audio-player") > 0.5
    # the online voice cannot load offline: the picker names the one that spoke
    expect(page.locator("#audio-model input")).to_have_value(re.compile(r"^espeak-ng .*mms-tts-eng"))
    assert image_width(page, page.locator("#audio-views img").first) > 300
    assert_no_error_shown(page, "audio")
    shot(page, artefacts, "audio")


def test_monitoring_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "monitoring")
    assert_no_error_shown(page, "monitoring")

    page.locator("#monitoring-requests-count input").fill("0")
    page.locator("#monitoring-simulate").click()
    assert_one_message(page, "monitoring", "monitoring-message")

    click_example(page, "monitoring-examples")  # palette shift
    expect(page.locator("#monitoring-requests-count input")).not_to_have_value("0")
    page.locator("#monitoring-requests-count input").fill("20")  # one window of 200 images is enough
    page.locator("#monitoring-simulate").click()
    expect(page.locator("#monitoring-alert-state")).to_have_attribute("data-alert", "1")  # the shift is found
    expect(page.locator("#monitoring-message .mmbench-error")).to_have_count(0)  # the stream ended well
    assert image_width(page, page.locator("#monitoring-drift img").first) > 300
    assert image_width(page, page.locator("#monitoring-requests img").first) > 300
    assert_no_error_shown(page, "monitoring")
    shot(page, artefacts, "monitoring")


def test_compression_tab(context, app_url, artefacts):
    page = open_tab(context, app_url, "compression")
    assert_no_error_shown(page, "compression")

    page.locator("#compression-rounds input").fill("0")
    page.locator("#compression-run").click()
    assert_one_message(page, "compression", "compression-message")

    click_example(page, "compression-examples")
    expect(page.locator("#compression-rounds input")).not_to_have_value("0")
    page.locator("#compression-run").click()
    expect(page.locator("#compression-table [role=row][data-index]")).to_have_count(2)  # fp32 and int8-dynamic
    expect(page.locator("#compression-table")).to_contain_text("int8-dynamic")
    assert image_width(page, page.locator("#compression-plot img").first) > 300
    assert_no_error_shown(page, "compression")
    shot(page, artefacts, "compression")


def test_models_tab(context, app_url, artefacts):
    from mmbench.registry import list_models

    page = open_tab(context, app_url, "models")
    rows = page.locator("#models-table [role=row][data-index]")  # the rows on screen (the table is virtual)
    expect(rows).not_to_have_count(0)
    assert min(10, len(list_models())) <= rows.count() <= len(list_models())
    expect(page.locator("#models-table")).to_contain_text("mmbench-tiny-clip")
    assert_no_error_shown(page, "models")
    shot(page, artefacts, "models")


# -- the page as a whole ------------------------------------------------------------------------------
def test_tabs_open_from_the_tab_bar_and_an_unknown_deep_link_opens_the_first(context, app_url):
    page = context.new_page()
    page.goto(f"{app_url}?tab=no-such-tab")
    expect(page.locator("#tab-matching")).to_be_visible()
    page.locator("#tab-speech-button").click()
    expect(page.locator("#tab-speech")).to_be_visible()
    expect(page.locator("#tab-matching")).to_be_hidden()


def test_phone_width_layout(browser, app_url, artefacts):
    """390 px wide (a phone): the page does not scroll sideways and each tab's main button is on screen."""
    ctx = browser.new_context(viewport={"width": 390, "height": 844}, locale="en-US", is_mobile=True,
                              has_touch=True, device_scale_factor=2)
    try:
        page = ctx.new_page()
        page.set_default_timeout(ACTION_MS)
        for tab, button in [("text-to-image", "t2i-button"), ("compression", "compression-run")]:
            page.goto(f"{app_url}?tab={tab}")
            target = page.locator(f"#{button}")
            expect(target).to_be_visible()
            target.scroll_into_view_if_needed()
            box = target.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390 + 1, (tab, box)
            overflow = page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, (tab, overflow)
        shot(page, artefacts, "phone-compression")
    finally:
        ctx.close()


# -- every tab's main action in Chinese ---------------------------------------------------------------
#: Each tab's main button and its catalogue key: the label the page shows must be the catalogue's Chinese.
ZH_BUTTONS = {
    "matching": ("matching-similarity-button", "matching.similarity_button", "matching-similarity-message"),
    "fusion": ("fusion-run", "fusion.run_comparison", "fusion-message"),
    "explain": ("explain-button", "explain.explain", "explain-message"),
    "speech": ("speech-transcribe", "speech.transcribe", "speech-message"),
    "captioning": ("captioning-button", "captioning.caption", "captioning-message"),
    "text-to-image": ("t2i-button", "text_to_image.generate", "t2i-message"),
    "video": ("video-classify", "video.classify", "video-message"),
    "faces": ("face-run", "face.run", "face-message"),
    "audio": ("audio-generate", "audio.generate", "audio-message"),
    "monitoring": ("monitoring-simulate", "monitoring.simulate_a_shift", "monitoring-message"),
    "compression": ("compression-run", "compression.compress_and_measure", "compression-message"),
}
CJK = re.compile(r"[\u4e00-\u9fff]")


def _zh_bad_input(page, tab: str) -> None:
    """The tab's bad input (the one its English test uses)."""
    if tab == "matching":
        page.locator("#matching-texts textarea").fill("a red circle")
    elif tab == "fusion":
        for box in page.locator("#fusion-strategies input[type=checkbox]").all():
            box.uncheck()
    elif tab == "explain":
        click_example(page, "explain-examples")
        expect(page.locator("#explain-predictions")).to_contain_text("Egyptian cat")  # model output: English
        for box in page.locator("#explain-methods input[type=checkbox]").all():
            box.uncheck()
    elif tab in ("monitoring", "compression"):
        page.locator(f"#{tab}-{'requests-count' if tab == 'monitoring' else 'rounds'} input").fill("0")
    page.locator(f"#{ZH_BUTTONS[tab][0]}").click()


def _zh_example(page, tab: str) -> None:
    """The tab's example through its main action, and the result the user sees."""
    button = page.locator(f"#{ZH_BUTTONS[tab][0]}")
    if tab == "matching":
        click_example(page, "matching-examples-procedural")
        page.locator("#matching-image img").first.wait_for()
        button.click()
        assert image_width(page, page.locator("#matching-heatmap img").first) > 300
    elif tab == "fusion":
        click_example(page, "fusion-examples")
        expect(page.locator("#fusion-strategies input[type=checkbox]:checked")).not_to_have_count(0)
        button.click()
        expect(page.locator("#fusion-results [role=row][data-index]")).not_to_have_count(0)
    elif tab == "explain":
        page.locator("#explain-methods input[type=checkbox]").first.check()
        button.click()
        assert image_width(page, page.locator("#explain-gallery img").first) > 100
    elif tab == "speech":
        click_example(page, "speech-examples")
        page.locator("#speech-audio a[download], #speech-audio audio").first.wait_for(state="attached")
        button.click()
        expect(page.locator("#speech-transcript textarea")).not_to_have_value("")
    elif tab == "captioning":
        click_example(page, "captioning-examples-procedural")
        page.locator("#captioning-image img").first.wait_for()
        button.click()
        expect(page.locator("#captioning-caption textarea")).not_to_have_value("")
    elif tab == "text-to-image":
        click_example(page, "t2i-examples-world")
        expect(page.locator("#t2i-prompt textarea")).not_to_have_value("")
        button.click()
        expect(page.locator("#t2i-gallery img")).to_have_count(4)
    elif tab == "video":
        click_example(page, "video-examples")
        page.locator("#video-make-example").click()
        expect(page.locator("#video-example-info")).to_contain_text("程序化片段")  # written by the server in Chinese
        page.locator("#video-input video").first.wait_for()
        button.click()
        expect(page.locator("#video-top")).to_contain_text("bouncing")  # model output: English
    elif tab == "faces":
        click_example(page, "face-examples", 0)
        page.locator("#face-image img").first.wait_for()
        button.click()
        expect(page.locator("#face-table [role=row][data-index]")).to_have_count(1)
    elif tab == "audio":
        click_example(page, "audio-examples")
        expect(page.locator("#audio-prompt textarea")).not_to_have_value("")
        button.click()
        assert playable_seconds(page, "audio-player") > 0.5
    elif tab == "monitoring":
        click_example(page, "monitoring-examples")
        page.locator("#monitoring-requests-count input").fill("20")
        button.click()
        expect(page.locator("#monitoring-alert-state")).to_have_attribute("data-alert", "1")
    elif tab == "compression":
        click_example(page, "compression-examples")
        expect(page.locator("#compression-rounds input")).not_to_have_value("0")
        button.click()
        expect(page.locator("#compression-table [role=row][data-index]")).to_have_count(2)


#: Tabs whose model status is written when the page loads (wait for it before looking for errors).
ZH_STATUS = {"matching": "matching-status", "explain": "explain-status", "captioning": "captioning-status",
             "text-to-image": "t2i-status"}


@pytest.fixture(scope="module")
def zh_page(browser, app_url):
    """One page of a Chinese browser on ``?lang=zh`` for all the Chinese tests (tabs switched in it)."""
    ctx = browser.new_context(viewport={"width": 1280, "height": 1000}, locale="zh-CN")
    ctx.set_default_timeout(ACTION_MS)
    page = ctx.new_page()
    page.goto(f"{app_url}?lang=zh")
    try:
        yield page
    finally:
        ctx.close()


@pytest.mark.parametrize("tab", [*ZH_BUTTONS, "models"])
def test_each_tab_works_in_chinese(zh_page, app_url, artefacts, tab):
    """A Chinese browser on ``?lang=zh``: the tab opens from the tab bar (or its deep link) with no error
    shown, its title and main button read the catalogue's Chinese, a bad input's message is Chinese, and
    the tab's example gives its result (the models are warm from the English tests above)."""
    from mmbench import i18n

    page = zh_page
    button = page.locator(f"#tab-{tab}-button")
    if button.is_visible():  # in the tab bar
        button.click()
    else:  # in the bar's overflow menu: the deep link opens it
        page.goto(f"{app_url}?tab={tab}&lang=zh")
    expect(page.locator(f"#tab-{tab}")).to_be_visible()
    if tab in ZH_STATUS:
        wait_for_status(page, ZH_STATUS[tab])
    page.wait_for_timeout(300)
    assert_no_error_shown(page, tab)  # before anything is pressed
    try:
        if tab == "models":
            expect(page.locator("#models-table")).to_contain_text(i18n.tr("app.col_good_for", "zh"))
            expect(page.locator("#models-table")).to_contain_text("mmbench-tiny-clip")
            return
        button_id, key, message_id = ZH_BUTTONS[tab]
        if button.is_visible():
            expect(button).to_have_text(i18n.tr(f"{key.split('.')[0]}.title", "zh"))
        expect(page.locator(f"#{button_id}")).to_have_text(i18n.tr(key, "zh"))
        _zh_bad_input(page, tab)
        message = page.locator(f"#{message_id} .mmbench-error")
        expect(message).to_be_visible()
        assert CJK.search(message.inner_text()), message.inner_text()
        _zh_example(page, tab)
        expect(page.locator(f"#{message_id} .mmbench-error")).to_have_count(0)  # cleared by the success
        assert_no_error_shown(page, tab)
    finally:
        shot(page, artefacts, f"zh-{tab}")
