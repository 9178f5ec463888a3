"""End to end in headless Chromium: django-otp's login page, an SMS from the emulator.

Uses Debian's ``chromium`` and ``chromedriver`` (installed by apt in CI); nothing is
downloaded: the driver path is explicit and Selenium Manager is kept offline.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator

from .conftest import CHROMEDRIVER, CHROMIUM, NUMBER, PASSWORD, fresh, wrong_code

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt install chromium chromium-driver)",
    ),
    pytest.mark.django_db(transaction=True),
]


def test_login_with_an_sms_token(
    live_server: Any,
    browser: Any,
    emulator: Emulator,
    device: TwoFactorSMSDevice,
    settings: Any,
) -> None:
    from selenium.common.exceptions import TimeoutException, WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    # a small lock-out, so the right code can follow the wrong one without waiting a second
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0.01

    def shows(element_id: str, text: str) -> bool:
        """Wait until the element holds ``text``; False if it never does.

        Reading an element while the browser swaps documents can fail with a stale node
        (WebDriverException), so such reads count as "not yet" rather than as failures.
        """

        def holds(driver: Any) -> bool:
            return text in driver.find_element(By.ID, element_id).text

        try:
            WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(holds)
        except TimeoutException:
            return False
        return True

    def press(button_id: str) -> None:
        """Click a submit button and wait for the next page."""
        page = browser.find_element(By.TAG_NAME, "html")
        browser.find_element(By.ID, button_id).click()

        def replaced(_: Any) -> bool:
            # Selenium's staleness_of only knows StaleElementReferenceException; Chrome may
            # report the replaced page as "Node ... does not belong to the document" instead.
            try:
                page.is_enabled()
            except WebDriverException:
                return True
            return False

        WebDriverWait(browser, 30).until(replaced)
        # and for the new page to be whole: under load the old one can go stale first
        WebDriverWait(browser, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda b: b.execute_script("return document.readyState") == "complete"
        )

    browser.get(f"{live_server.url}/otp/login/?next=/otp/whoami/")
    browser.find_element(By.NAME, "username").send_keys("alice")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    press("log-in")
    assert shows("errors", "Please enter your OTP token.")

    Select(browser.find_element(By.NAME, "otp_device")).select_by_value(device.persistent_id)
    press("get-challenge")
    assert shows("errors", "OTP Challenge: sent by SMS to +91******3210")
    otp = emulator.last_otp(NUMBER)
    assert otp is not None

    browser.find_element(By.NAME, "otp_token").send_keys(wrong_code(otp))
    press("log-in")
    assert shows("errors", "Invalid token.")
    assert fresh(device).throttling_failure_count == 1

    token_field = browser.find_element(By.NAME, "otp_token")
    token_field.clear()
    token_field.send_keys(otp)
    press("log-in")

    assert shows("verified", "verified=True")
    assert browser.find_element(By.ID, "user").text == "alice"
    assert browser.current_url == f"{live_server.url}/otp/whoami/"
    stored = fresh(device)
    assert stored.throttling_failure_count == 0 and stored.last_used_at is not None
    assert os.environ.get("SE_OFFLINE") == "true"
