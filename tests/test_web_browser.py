"""The web page in a real browser: Debian's chromium, headless, driven by Selenium.

Logs in through the form with the token, sees the live image change, presses "next mode" and
picks a mode, and sees each change in the status. Skipped only where chromium or chromedriver
is not installed (CI installs both: .ci/run).
"""

from __future__ import annotations

import shutil
import threading

import pytest

pytest.importorskip("aiohttp")
selenium = pytest.importorskip("selenium")

from fakes import FlakySource, RecordingSink  # noqa: E402
from test_app import IMAGES, make_app  # noqa: E402
from test_web import TOKEN, web_config  # noqa: E402
from waits import wait_for  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER),
                                reason="needs chromium and chromedriver: apt install chromium chromium-driver")


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1000,1400", "--no-first-run", "--disable-extensions"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def test_the_page_logs_in_streams_and_controls_the_mirror(tmp_path, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    sink = RecordingSink()
    app = make_app([FlakySource(IMAGES), FlakySource(IMAGES)], sink, cfg=web_config(tmp_path))  # privacy reopens
    thread = threading.Thread(target=app.run, daemon=True)
    thread.start()
    try:
        wait_for(lambda: app.remote is not None and app.frames >= 2)
        base = f"http://127.0.0.1:{app.remote.port}"
        browser.get(base + "/")
        assert "Token required" in browser.page_source  # no token, no page
        browser.get(base + "/login")
        browser.find_element(By.ID, "token").send_keys(TOKEN)
        browser.find_element(By.ID, "login").click()
        text = lambda element_id: browser.find_element(By.ID, element_id).text  # noqa: E731
        wait_for(lambda: browser.current_url == base + "/" and text("s-mode") == "mirror")
        assert text("state") == "running" and "emotion.tflite" in text("s-model")

        live = browser.find_element(By.ID, "live")
        wait_for(lambda: live.size["width"] > 100 and browser.execute_script(
            "return arguments[0].naturalWidth", live) > 0, what="the live image to show a frame")
        first = live.screenshot_as_png
        wait_for(lambda: live.screenshot_as_png != first, what="the live image to change")

        browser.find_element(By.ID, "next").click()
        wait_for(lambda: text("s-mode") == "panel")
        assert app.renderer.mode == "panel"
        Select(browser.find_element(By.ID, "mode")).select_by_value("emoji")
        wait_for(lambda: text("s-mode") == "emoji")
        browser.find_element(By.ID, "privacy").click()
        wait_for(lambda: text("state") == "privacy" and app.privacy)
        browser.find_element(By.ID, "privacy").click()
        wait_for(lambda: text("state") == "running" and not app.privacy)
    finally:
        app.stop()
        thread.join(15)
