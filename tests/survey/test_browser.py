"""A real browser answers a 3-question survey end to end (headless Chromium via Selenium).

Skipped, with the reason, where Chromium or its driver is not installed (Debian:
`apt-get install chromium chromium-driver`; `.ci/run` installs them when it can). The
screenshot of a question page is kept in `$CARTOONLAB_ARTIFACTS` (default
`test-artifacts/`) as `survey_question.png`.
"""

import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and DRIVER),
    reason="no Chromium and chromedriver installed (Debian: apt-get install chromium chromium-driver)",
)


@pytest.fixture
def server(survey):
    pytest.importorskip("selenium")
    from waitress import create_server

    from cartoonlab.survey.app import create_app

    srv = create_server(create_app(survey), host="127.0.0.1", port=0, threads=2)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()


def test_a_browser_answers_by_click_and_by_key_and_the_answers_are_stored(server, survey):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=412,915",
    ):  # a phone's width
        opts.add_argument(arg)
    driver = webdriver.Chrome(service=Service(DRIVER), options=opts)
    wait = WebDriverWait(driver, 20)
    try:
        driver.get(server + "/")
        driver.find_element(By.CSS_SELECTOR, "button.start").click()
        wait.until(ec.title_contains("Question 1 of 3"))
        images = driver.find_elements(By.CSS_SELECTOR, ".option img")
        assert len(images) == 3 and all(
            driver.execute_script("return arguments[0].naturalWidth", i) == 16 for i in images
        ), "the option images load"
        artifacts = Path(os.environ.get("CARTOONLAB_ARTIFACTS", "test-artifacts"))
        artifacts.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(artifacts / "survey_question.png"))
        driver.find_elements(By.CSS_SELECTOR, "button.option")[1].click()  # a tap
        wait.until(ec.title_contains("Question 2 of 3"))
        driver.find_element(By.TAG_NAME, "body").send_keys("3")  # the number key
        wait.until(ec.title_contains("Question 3 of 3"))
        driver.find_elements(By.CSS_SELECTOR, "button.option")[0].click()
        wait.until(ec.title_contains("Thank you"))
    finally:
        driver.quit()
    with sqlite3.connect(survey / "answers.sqlite") as db:
        rows = db.execute("SELECT participant, question, choice FROM answers").fetchall()
    assert len(rows) == 3 and len({p for p, _, _ in rows}) == 1 and len({q for _, q, _ in rows}) == 3
