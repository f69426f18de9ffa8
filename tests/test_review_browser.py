"""The review page in Debian's headless Chromium (Selenium): log in, see the night's
events, play a clip (its ``currentTime`` advances), acknowledge one, switch mode — and
check the last two in SQLite. A screenshot is saved to ``test-artifacts/review.png``."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from browser import chromium, poll, require_browser, save_screenshot
from reviewsite import NOW, PASSWORD, build_night, make_mp4, start_server, watch_the_night


def test_review_page_in_chromium(tmp_path: Path) -> None:
    require_browser()
    night = build_night(tmp_path / "site", make_mp4(tmp_path / "sample.mp4", seconds=6))
    server = start_server(night)
    db = night.bundle.database_path
    try:
        with chromium() as driver:
            from selenium.webdriver.common.by import By

            driver.get(server.url + "/")
            poll(lambda: "/login" in driver.current_url, what="the redirect to /login")
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "login").click()
            poll(
                lambda: driver.find_elements(By.ID, "event-ev-crit"),
                what="the night's events after logging in",
            )
            # the night's events, critical first, then newest first (the phone-first page);
            # the two water entries on the pool fold into one (the older one inside);
            # events outside the night are not shown
            ids = [e.get_attribute("id") for e in driver.find_elements(By.CSS_SELECTOR, "article")]
            assert ids == ["event-ev-crit", "event-ev-skip", "event-ev-warn", "event-ev-info"]
            assert "night of Sun 2026-11-22" in driver.find_element(By.ID, "window").text

            # the poster is shown on its own; a tap on it opens the player
            driver.find_element(By.CSS_SELECTOR, "#player-ev-crit summary").click()
            video = driver.find_element(By.CSS_SELECTOR, "#event-ev-crit video")
            poll(video.is_displayed, what="the player to open")
            driver.execute_script("arguments[0].muted = true; arguments[0].play();", video)
            start = poll(
                lambda: driver.execute_script(
                    "const v = arguments[0]; return v.readyState >= 2 ? [v.videoWidth, "
                    "v.videoHeight, v.duration] : null;",
                    video,
                ),
                what="the clip to load",
            )
            assert start[:2] == [320, 240] and abs(start[2] - 6.0) < 0.2
            played = poll(
                lambda: (
                    (t := driver.execute_script("return arguments[0].currentTime;", video)) > 1.0
                    and t
                ),
                timeout=30,
                what="currentTime to advance past 1 s",
            )
            assert played > 1.0
            assert driver.execute_script("return arguments[0].error;", video) is None
            save_screenshot(driver, "review-playing.png")

            driver.find_element(By.CSS_SELECTOR, "#event-ev-crit button[name=ack]").click()
            text = "return document.querySelector(arguments[0])?.textContent ?? '';"
            poll(
                lambda: "acknowledged by alex" in driver.execute_script(text, "#event-ev-crit"),
                what="the event to show as acknowledged",
            )
            driver.find_element(By.CSS_SELECTOR, "button[name=supervised]").click()
            poll(
                lambda: driver.execute_script(text, "#mode") == "supervised",
                what="the mode to show supervised",
            )
            shot = save_screenshot(driver, "review.png")
            assert shot.stat().st_size > 10_000
    finally:
        server.shutdown()
    with sqlite3.connect(db) as conn:
        assert conn.execute(
            "select acknowledged_by, acknowledged_at from events where id = 'ev-crit'"
        ).fetchone() == ("alex", NOW)
        assert conn.execute(
            "select mode, until, by, source from mode_changes order by id desc"
        ).fetchone() == ("supervised", NOW + 7200, "alex", "web")
    night.store.close()


def test_the_header_shows_the_nights_offline_span_in_chromium(tmp_path: Path) -> None:
    """Issue 13: a parent at 7 a.m. sees whether anything watched overnight."""
    require_browser()
    night = build_night(tmp_path / "site", make_mp4(tmp_path / "sample.mp4", seconds=1))
    watch_the_night(night.store)  # the pool camera was offline 02:14 → 02:31
    server = start_server(night)
    try:
        with chromium() as driver:
            from selenium.webdriver.common.by import By

            driver.get(server.url + "/login")
            driver.find_element(By.ID, "password").send_keys(PASSWORD)
            driver.find_element(By.ID, "login").click()
            health = poll(
                lambda: driver.find_elements(By.ID, "health"), what="the cameras' health line"
            )[0]
            assert health.text == "Cameras watched 22:00–07:00: pool camera offline 02:14–02:31"
            assert health.is_displayed() and "problem" in health.get_attribute("class")
            # shown near the top, above the night's events
            first_event = driver.find_element(By.CSS_SELECTOR, "article")
            assert health.location["y"] < first_event.location["y"]
            save_screenshot(driver, "review-health.png")

            driver.find_element(By.ID, "prev").click()  # the night before: nothing ran
            poll(
                lambda: "2026-11-21" in driver.find_element(By.ID, "window").text,
                what="the previous night",
            )
            assert driver.find_element(By.ID, "health").text == (
                "Cameras not watched 18:00–09:00: Guardian was not running"
            )
    finally:
        server.shutdown()
        night.store.close()
