"""Debian's Chromium, headless, through Selenium with the system chromedriver.

Nothing is downloaded: the driver path is given explicitly and Selenium Manager is kept
offline (``SE_OFFLINE``). When Chromium or chromedriver is missing the test is skipped,
or fails when ``GUARDIAN_REQUIRE_BROWSER`` is set (as CI does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import pytest

CHROMIUM = Path(os.environ.get("GUARDIAN_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("GUARDIAN_CHROMEDRIVER", "/usr/bin/chromedriver"))
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

T = TypeVar("T")


def _missing(reason: str) -> NoReturn:
    if os.environ.get("GUARDIAN_REQUIRE_BROWSER"):
        pytest.fail(
            reason + " (GUARDIAN_REQUIRE_BROWSER is set, so this fails instead of skipping)"
        )
    pytest.skip(reason)


def require_browser() -> None:
    """Skip (or fail under GUARDIAN_REQUIRE_BROWSER) without Chromium, chromedriver, Selenium."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not (path.is_file() and os.access(path, os.X_OK)):
            _missing(f"{path} not found — install Debian's {package} package")
    try:
        import selenium  # noqa: F401
    except ImportError:
        _missing("selenium is not installed — pip install -e '.[dev]'")


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium WebDriver with a fresh profile; quit afterwards."""
    require_browser()
    os.environ["SE_OFFLINE"] = "true"  # never let Selenium Manager download anything
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="guardian-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--mute-audio",
        "--autoplay-policy=no-user-gesture-required",
        "--window-size=1200,1600",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    try:
        driver.set_page_load_timeout(60)
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def poll(check: Callable[[], T | None], timeout: float = 20.0, what: str = "condition") -> T:
    """``check()`` until it returns something truthy, or fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


def save_screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    driver.save_screenshot(str(path))
    return path
