"""The web app in a real browser: Playwright drives Debian's chromium against the running app.

Run with ``pytest -m e2e``. Needs ``apt-get install chromium`` (Playwright's own browser downloads
are not used) and the ``playwright`` Python package.
"""

from __future__ import annotations

import pytest
from conftest import E2E
from playwright import sync_api

pytestmark = E2E


@pytest.fixture
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.wait_for_selector("#matching-image input[type=file]", state="attached")
    yield page
    context.close()


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory):
    from mmbench.data.world import World
    from mmbench.examples import upscale

    folder = tmp_path_factory.mktemp("e2e")
    world = World(seed=4321)
    scenes = [world.scene(i, n_objects=2) for i in range(3)]
    paths = []
    for i, scene in enumerate(scenes):
        path = folder / f"scene{i}.png"
        upscale(scene.image).save(path)
        paths.append(str(path))
    corrupt = folder / "broken.png"
    corrupt.write_bytes(b"\x89PNG\r\n\x1a\n" + b"not image data " * 30)
    return {"paths": paths, "captions": [s.caption for s in scenes], "corrupt": str(corrupt)}


def test_similarity_heatmap_appears(page, scene_files, tmp_path):
    from PIL import Image

    page.locator("#matching-image input[type=file]").set_input_files(scene_files["paths"][0])
    page.locator("#matching-image img").first.wait_for()
    texts = list(reversed(scene_files["captions"]))  # the true caption is last
    page.locator("#matching-texts textarea").fill("\n".join(texts))
    page.locator("#matching-similarity-button").click()

    heatmap = page.locator("#matching-heatmap img").first
    heatmap.wait_for()
    src = heatmap.get_attribute("src") or ""
    assert src.startswith("data:image/png;base64,")
    assert page.evaluate("(img) => img.naturalWidth", heatmap.element_handle()) > 300

    # the status line names the model that actually answered, and the fallback notice is visible
    status = page.locator("#matching-status")
    sync_api.expect(status).to_contain_text("mmbench-tiny-clip")
    sync_api.expect(status).to_contain_text("Fallback")

    shot = tmp_path / "similarity.png"
    page.screenshot(path=str(shot), full_page=True)
    img = Image.open(shot).convert("RGB")
    assert img.width >= 1000 and img.height >= 800
    colours = img.resize((img.width // 4, img.height // 4)).getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 500  # a real rendering, not a blank page


def test_damaged_upload_shows_a_clear_error_and_the_app_recovers(page, scene_files):
    page.locator("#matching-image input[type=file]").set_input_files(scene_files["corrupt"])
    page.locator("#matching-texts textarea").fill("a red circle")
    page.locator("#matching-similarity-button").click()
    sync_api.expect(page.get_by_text("damaged and cannot be read").first).to_be_visible()

    page.locator("#matching-image button[aria-label='Remove Image']").first.click()
    page.locator("#matching-image input[type=file]").set_input_files(scene_files["paths"][1])
    page.locator("#matching-image img").first.wait_for()
    page.locator("#matching-similarity-button").click()
    page.locator("#matching-heatmap img").first.wait_for()


def test_explain_tab_shows_class_maps_side_by_side(page):
    from mmbench.examples import example_files

    page.locator("#tab-explain-button, button[role=tab]:has-text('Explain (image classification)')").first.click()
    page.locator("#explain-image input[type=file]").set_input_files(example_files().photos["chelsea"])
    wait = {"timeout": 60_000}  # the page's load events (model status lines) queue first
    sync_api.expect(page.locator("#explain-predictions")).to_contain_text("Egyptian cat", **wait)  # top-5
    sync_api.expect(page.locator("#explain-class input")).to_have_value("Egyptian cat", **wait)  # picker set
    page.locator("#explain-button").click()
    sync_api.expect(page.locator("#explain-gallery img")).to_have_count(2, **wait)  # Grad-CAM, Grad-CAM++
    sync_api.expect(page.locator("#explain-gallery")).to_contain_text("Egyptian cat")
    sync_api.expect(page.locator("#explain-download")).to_be_visible()


def test_text_to_image_tab_opens_without_errors_and_generates(page, tmp_path):
    """Issue 14: the tab's model-status event gave the 32-pixel offline model's size slider
    minimum == maximum, Gradio refused the whole update and four "Error" badges (status, steps,
    guidance, size) greeted the user before anything was pressed."""
    page.locator("#tab-text-to-image-button, button[role=tab]:has-text('Text to image')").first.click()
    tab = page.locator("#tab-text-to-image")
    status = page.locator("#t2i-status")
    badges = tab.locator(".error")  # Gradio's red "Error" badge over an output whose event failed
    # the status event ends either way: with the status, or (the bug) with error badges
    page.locator("#t2i-status:has-text('Active model'), #tab-text-to-image .error").first.wait_for(timeout=60_000)
    assert badges.count() == 0, badges.all_inner_texts()
    assert page.locator("[data-testid=toast-body]").count() == 0
    sync_api.expect(status).to_contain_text("mmbench-tiny-diffusion")
    sync_api.expect(status).to_contain_text("32×32 images only")  # the one size, said instead of a slider
    sync_api.expect(page.locator("#t2i-size")).to_be_hidden()
    sync_api.expect(page.locator("#t2i-steps input[type=number]")).to_have_value("10")
    sync_api.expect(page.locator("#t2i-guidance input[type=number]")).to_have_value("3")
    page.screenshot(path=str(tmp_path / "text_to_image_opened.png"), full_page=True)

    # the hidden size slider still hands its value (32) to a generation
    page.locator("#t2i-prompt textarea").fill("a red circle")
    page.locator("#t2i-button").click()
    sync_api.expect(page.locator("#t2i-gallery img")).to_have_count(4, timeout=60_000)
    sync_api.expect(page.locator("#t2i-summary")).to_contain_text("32×32")
    assert badges.count() == 0 and page.locator("[data-testid=toast-body]").count() == 0
