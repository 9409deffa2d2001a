"""The two languages in a real browser: a Chinese browser gets the Chinese page, and the header's
switch turns an English page Chinese (the text the browser translates and the text the server writes).

Run with ``pytest -m e2e``; needs Debian's chromium (``apt-get install chromium``).
"""

from __future__ import annotations

import pytest
from conftest import E2E

pytestmark = E2E


def _open(browser, url: str, locale: str):
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    page.wait_for_selector("#matching-status code")  # the status a load event wrote on the server
    return context, page


def _assert_chinese_page(page) -> None:
    page.locator("#app-header:has-text('多模态深度学习工作台')").wait_for()  # after `?lang=`: once the app's js ran
    assert "离线" in page.inner_text("#app-tier")  # the tests run the offline tier
    page.locator("#matching-status:has-text('当前模型')").wait_for()  # written by the server in Chinese
    status = page.inner_text("#matching-status")
    assert "改用离线模型" in status and "Active model" not in status, status
    assert page.locator("#matching-similarity-button").inner_text().strip() == "计算相似度"
    body = page.inner_text("body")
    assert "[object Object]" not in body and "__i18n__" not in body


def test_a_chinese_browser_gets_the_chinese_page(browser, app_url):
    context, page = _open(browser, app_url, "zh-CN")
    try:
        _assert_chinese_page(page)
        page.get_by_role("tab", name="模型", exact=True).click()
        page.locator("#models-table:has-text('适用于')").wait_for()  # column names set on load
    finally:
        context.close()


def test_the_header_switch_turns_an_english_page_chinese_and_back(browser, app_url):
    context, page = _open(browser, app_url, "en-US")
    try:
        assert "multimodal deep-learning workbench" in page.inner_text("#app-header")
        page.locator("#matching-status:has-text('Active model')").wait_for()
        page.click("a[data-mmbench-lang=zh]")
        page.wait_for_url("**lang=zh**", wait_until="commit")
        page.wait_for_selector("#matching-status code")
        _assert_chinese_page(page)
        page.click("a[data-mmbench-lang=en]")
        page.wait_for_url("**lang=en**", wait_until="commit")
        page.locator("#matching-status:has-text('Active model')").wait_for()
        assert "multimodal deep-learning workbench" in page.inner_text("#app-header")
    finally:
        context.close()
