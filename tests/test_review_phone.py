"""The phone-first review page in Chromium at 390 px wide: the headline (criticals and
how many wait for an ack), newest first, repeats folded and expandable, the video's
poster shown whole (not under the player), the camera-health strip, no sideways scroll."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from browser import chromium, poll, require_browser, save_screenshot
from reviewsite import PASSWORD, add_event, at, build_night, make_mp4, start_server

from guardian.records import Severity


def test_the_review_page_on_a_phone(tmp_path: Path) -> None:
    require_browser()
    night = build_night(tmp_path / "site", make_mp4(tmp_path / "sample.mp4", seconds=2))
    for i, minute in enumerate((10, 20, 30)):
        add_event(
            night.store,
            f"ev-alone-{i}",
            started_at=at(22, 23, minute),
            severity=Severity.CRITICAL,
            rule_id="child_alone",
            message="A child is alone by the pool",
        )
    night.store.event_log.acknowledge("ev-alone-0", by="alex")
    server = start_server(night)
    try:
        with chromium() as driver:
            from selenium.webdriver.common.by import By

            driver.execute_cdp_cmd(
                "Emulation.setDeviceMetricsOverride",
                {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True},
            )
            driver.get(server.url + "/login")
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "login").click()
            headline = poll(lambda: driver.find_elements(By.ID, "headline"), what="the headline")[0]
            assert headline.text == "4 critical, 3 not acknowledged · 2 warning, 1 info"
            assert "open" in headline.get_attribute("class")
            assert driver.execute_script("return document.documentElement.scrollWidth") <= 390
            chips = driver.find_elements(By.CSS_SELECTOR, "#cameras li")
            assert [c.text for c in chips] == ["pool never watched", "gate never watched"]

            # newest first within a severity; the three "Child alone" fold into one
            ids = [a.get_attribute("id") for a in driver.find_elements(By.CSS_SELECTOR, "article")]
            assert ids[:4] == [
                "event-ev-crit",
                "event-ev-alone-2",
                "event-ev-alone-1",
                "event-ev-alone-0",
            ]
            fold = driver.find_element(By.ID, "repeats-ev-alone-2")
            summary = fold.find_element(By.TAG_NAME, "summary")
            assert summary.text == "Child alone ×3"
            older = driver.find_element(By.ID, "event-ev-alone-1")
            assert driver.find_element(By.ID, "event-ev-alone-2").is_displayed()
            assert not older.is_displayed()
            summary.click()
            poll(lambda: older.is_displayed(), what="the folded events to open")

            # the poster is a picture of its own, shown whole inside the page's width and
            # not covered by the player (whose controls dim it); the player opens on a tap
            poster = driver.find_element(By.CSS_SELECTOR, "#event-ev-crit img.poster")
            assert poster.get_attribute("src").endswith("/events/ev-crit/thumbnail")
            driver.execute_script("arguments[0].scrollIntoView()", poster)
            poll(
                lambda: driver.execute_script("return arguments[0].naturalWidth", poster),
                what="the poster to load",
            )
            box = driver.execute_script(
                "const r = arguments[0].getBoundingClientRect();"
                "return [r.left, r.right, r.width, r.height];",
                poster,
            )
            assert box[0] >= 0 and box[1] <= 390 and box[2] > 300
            assert abs(box[3] - box[2] * 3 / 4) < 2
            shot = cv2.imdecode(np.frombuffer(poster.screenshot_as_png, np.uint8), cv2.IMREAD_COLOR)
            h, w = shot.shape[:2]
            for y, x in ((h // 2, w // 2), (h - 3, w // 2), (3, 3)):  # centre, bottom, corner
                colour = shot[y, x].astype(int)  # the thumbnail's, BGR (40, 120, 200)
                assert np.abs(colour - (40, 120, 200)).max() < 12, (y, x, colour)
            video = driver.find_element(By.CSS_SELECTOR, "#event-ev-crit video")
            assert not video.is_displayed()
            driver.find_element(By.CSS_SELECTOR, "#player-ev-crit summary").click()
            poll(lambda: video.is_displayed(), what="the player to open")
            assert not poster.is_displayed()
            save_screenshot(driver, "review-phone.png")
    finally:
        server.shutdown()
        night.store.close()
