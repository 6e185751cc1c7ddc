"""The dashboard in a real browser (Debian's headless Chromium, driven by Selenium) against a
real worker and sender on the real broker, with a real receiver: sign in, create a loop,
validate it, send a test call, see a delivery in the attempts and the statistics; a
receiver's answer that is HTML shows as text; the CSP holds.

``FLTEST_SCREENSHOTS=DIR`` saves a PNG of each main page there (docs/ keeps them).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from streams.demo.events import DemoWorld
from tests.support.api import Api
from tests.support.processes import Project
from tests.support.receiver import Receiver

pytestmark = [pytest.mark.kafka]

TOKEN = "ui-token-0123456789abcdefgh"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
XSS = b'<img src=x onerror="document.title=\'pwned\'"><script>document.title="pwned"</script>'


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (os.path.exists(CHROMIUM) and os.path.exists(DRIVER)):
        pytest.fail("chromium and chromium-driver are needed (make test installs them)")
    profile = tempfile.mkdtemp(prefix="fl-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--window-size=1366,900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def shot(driver: Any, name: str) -> None:
    folder = os.environ.get("FLTEST_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"dashboard-{name}.png"))


def test_the_dashboard_in_a_real_browser(project_factory: Callable[..., Project],
                                         receiver: Receiver, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    project = project_factory(api={"port": 0, "tokens": [TOKEN]}, stats={"flush_s": 0.5})
    worker = project.start("worker", "-l", "info")
    project.start("sender", name="sender")
    api = Api.of(worker, TOKEN)
    wait = WebDriverWait(browser, 60, poll_frequency=0.2)

    def find(css: str) -> Any:
        return wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, css)))

    def text_of(css: str, contains: str) -> str:
        wait.until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), contains))
        return str(browser.find_element(By.CSS_SELECTOR, css).text)

    page = api.call("GET", "/ui/", token=None)
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp

    # sign in: the token goes to session storage, never into the URL
    browser.get(api.base + "/ui/")
    find("#token").send_keys(TOKEN)
    find("#signin-button").click()
    find("#add-loop")
    assert TOKEN not in browser.current_url
    assert browser.execute_script("return sessionStorage.getItem('fl.token')") == TOKEN

    # create a loop with the form
    find("#add-loop").click()
    find("#f-url").send_keys(receiver.url("/ui/hooks/receive.php"))
    browser.find_element(By.CSS_SELECTOR, "input[name=events][value=open]").click()
    find("#f-database").send_keys("uidb")
    shot(browser, "add-loop")
    find("#save-loop").click()
    file_name = find("#challenge-file").text
    content = find("#challenge-content").text
    assert file_name.startswith("feedbackloop-") and content
    assert find("#new-secret").text.count("whsec_") == 1
    loop_id = browser.current_url.rsplit("/", 1)[-1]

    # ownership: first without the file (the exact reason), then with it
    find("#validate-now").click()
    assert "404" in text_of("#validation-result", "404")
    receiver.files[f"/ui/hooks/{file_name}"] = (200, content.encode())
    find("#validate-now").click()
    text_of("#validation-status", "Validated")
    shot(browser, "ownership")

    # the test tool, against a receiver whose answer is HTML that would run if parsed
    receiver.behave("/ui/hooks/receive.php", default_status=200, body=XSS,
                    headers={"X-Receiver": "<b>bold</b>"})
    find("#test-sample")
    browser.find_element(By.CSS_SELECTOR, "#test-sample option[value=open]").click()
    find("#send-test").click()
    assert text_of("#test-status", "200") == "200"
    body = find("#test-body")
    assert body.text == XSS.decode()  # shown as text, character for character
    assert browser.find_elements(By.CSS_SELECTOR, "#test-result img, #test-result script, "
                                                  "#test-headers b") == []
    assert "<b>bold</b>" in find("#test-headers").text
    assert browser.title == "Feedback Loops"
    assert "ms" in find("#test-latency").text
    browser.execute_script("document.getElementById('test-tool').scrollIntoView()")
    shot(browser, "test-tool")
    [call] = [c for c in receiver.calls_to("/ui/hooks/receive.php") if c.method == "POST"]
    assert b'"sample-0001"' in call.body

    # a real event: it is delivered, then shows in the attempts and the statistics
    receiver.behave("/ui/hooks/receive.php", default_status=204)
    world = DemoWorld(profiles=1, databases=("uidb",), seed=21)
    event = world.event("open")
    project.produce(project.topics.ref_profiles, world.profiles[0]["id"], world.profiles[0])
    project.produce(project.topics.raw["open"], event["profile"], event)
    project.flush()
    receiver.wait_for(lambda cs: any(c.method == "POST" and c.body and b"event_id" in c.body
                                     for c in cs if c.path == "/ui/hooks/receive.php"),
                      timeout_s=60, what="the event delivered")
    deadline = time.monotonic() + 60
    while True:
        browser.get(f"{api.base}/ui/#/loop/{loop_id}")
        browser.refresh()
        find("#attempts")
        rows = browser.find_elements(By.CSS_SELECTOR, "#attempts tbody tr")
        delivered = browser.find_elements(By.CSS_SELECTOR, "#loop-stats td[data-metric=delivered]")
        if rows and delivered and delivered[0].text == "1":
            break
        assert time.monotonic() < deadline, "no attempt or statistic shown within 60 s"
        time.sleep(1)
    assert event["id"] in find("#attempts").text and "delivered" in find("#attempts").text
    assert browser.find_elements(By.CSS_SELECTOR, "#loop-stats svg rect.c-delivered")
    shot(browser, "loop")
    browser.get(f"{api.base}/ui/#/loops")
    text_of("table[data-test=loops]", loop_id)
    row = find(f"tr[data-loop='{loop_id}']")
    assert "validated" in row.text and "1" in row.text
    shot(browser, "loops")
    browser.get(f"{api.base}/ui/#/stats?window=1m&database=uidb")
    text_of("table[data-test=mailings]", event["mailing"])
    shot(browser, "statistics")

    # partitions: direct mode shows the raw topics' count; its Scale button says why not
    browser.get(f"{api.base}/ui/#/partitions")
    text_of("dl[data-test=partitions]", "direct")
    assert find("[data-test=partition-count]").text == "4"
    find("button[data-test=scale]").click()
    assert "direct" in text_of("[data-test=scale-result]", "worker.partitioning")
    shot(browser, "partitions")

    # keyboard: the sign-out button is reachable and works without a mouse
    browser.find_element(By.ID, "signout").send_keys("\n")
    find("#token")
    assert browser.execute_script("return sessionStorage.getItem('fl.token')") is None
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"
              and "public-key" not in e["message"] and "favicon" not in e["message"]
              and "partitions/scale" not in e["message"]]  # the 409 shown above
    assert errors == [], errors
