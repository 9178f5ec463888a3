"""django-two-factor-auth's wizards in headless Chromium, against the emulator: setting up
"SMS via 2Factor", logging in with a wrong then the right code, and a failed SMS shown as a
form error with a button that sends a new code."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser

from otp_twofactor.models import TwoFactorSMSDevice
from twofactor_notify.emulator import Emulator

from .conftest import CHROMEDRIVER, CHROMIUM, NUMBER, PASSWORD, wrong_code
from .test_two_factor import LOGIN, SETUP, two_factor_settings  # noqa: F401 - fixture

pytestmark = [
    pytest.mark.skipif(
        not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
        reason=f"needs {CHROMIUM} and {CHROMEDRIVER} (apt install chromium chromium-driver)",
    ),
    pytest.mark.django_db(transaction=True),
]


class Page:
    """The browser, with waits that tolerate a document being swapped under them."""

    def __init__(self, browser: Any, base: str) -> None:
        self.browser = browser
        self.base = base

    def open(self, path: str) -> None:
        self.browser.get(f"{self.base}{path}")

    def css(self, selector: str) -> Any:
        from selenium.webdriver.common.by import By

        return self.browser.find_element(By.CSS_SELECTOR, selector)

    def type(self, name: str, text: str) -> None:
        field = self.css(f'[name="{name}"]')
        field.clear()
        field.send_keys(text)

    def press(self, selector: str = "button.btn-primary") -> None:
        """Click a submit button and wait for the next page to be whole."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        old = self.browser.find_element(By.TAG_NAME, "html")
        self.css(selector).click()

        def replaced(_: Any) -> bool:
            try:
                old.is_enabled()
            except WebDriverException:
                return True
            return False

        WebDriverWait(self.browser, 30).until(replaced)
        WebDriverWait(self.browser, 30, ignored_exceptions=(WebDriverException,)).until(
            lambda b: b.execute_script("return document.readyState") == "complete"
        )

    @property
    def text(self) -> str:
        from selenium.webdriver.common.by import By

        return str(self.browser.find_element(By.TAG_NAME, "body").text)


@pytest.fixture
def page(browser: Any, live_server: Any, settings: Any) -> Page:
    # a small lock-out, so the right code can follow a wrong one without waiting a second
    settings.OTP_TWOFACTOR_THROTTLE_FACTOR = 0.01
    return Page(browser, live_server.url)


def _log_in_with_password(page: Page) -> None:
    page.open(LOGIN)
    page.type("auth-username", "alice")
    page.type("auth-password", PASSWORD)
    page.press()


def test_setup_then_login_with_a_wrong_then_the_right_code(
    page: Page, user: AbstractBaseUser, emulator: Emulator
) -> None:
    _log_in_with_password(page)  # no device yet: the password logs in
    page.open(SETUP)
    page.press()  # welcome
    assert "SMS via 2Factor" in page.text
    page.css('input[value="twofactor_sms"]').click()
    page.press()
    page.type("twofactor_sms-number", "98765 43210")
    page.press()
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    page.type("validation-token", wrong_code(otp))
    page.press()
    assert "Entered code is not valid." in page.text
    page.type("validation-token", otp)
    page.press()
    assert "Congratulations" in page.text  # two_factor's "setup complete" page
    device = TwoFactorSMSDevice.objects.get(user=user)
    assert device.confirmed and device.name == "default"

    page.browser.delete_all_cookies()  # a new session: log in again, now with the code
    _log_in_with_password(page)
    assert "We sent you a text message, please enter the code we sent." in page.text
    otp = emulator.last_otp(NUMBER)
    assert otp is not None and len(emulator.messages(NUMBER)) == 2
    page.type("token-otp_token", wrong_code(otp))
    page.press()
    assert "Invalid token" in page.text
    page.type("token-otp_token", otp)
    page.press()
    assert "verified=True" in page.text
    assert page.browser.current_url.endswith("/secret/")


def test_failed_sms_is_a_form_error_and_a_new_code_can_be_sent(
    page: Page, user: AbstractBaseUser, emulator: Emulator
) -> None:
    device = TwoFactorSMSDevice.objects.create(
        user=user, name="default", number=NUMBER, confirmed=True
    )
    emulator.inject("status", status=503, match="/SMS/", times=1)

    _log_in_with_password(page)

    assert "The code could not be sent" in page.text
    assert "Server Error" not in page.text
    assert emulator.messages(NUMBER) == []
    page.press(f'button[name="challenge_device"][value="{device.persistent_id}"]')
    assert "The code could not be sent" not in page.text
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    page.type("token-otp_token", otp)
    page.press()
    assert "verified=True" in page.text


def test_setup_wizard_failed_sms_is_a_form_error_and_back_next_sends_again(
    page: Page, user: AbstractBaseUser, emulator: Emulator
) -> None:
    _log_in_with_password(page)
    page.open(SETUP)
    page.press()  # welcome
    page.css('input[value="twofactor_sms"]').click()
    page.press()
    emulator.inject("status", status=503, match="/SMS/", times=1)
    page.type("twofactor_sms-number", "98765 43210")
    page.press()

    assert "The code could not be sent" in page.text
    assert "Server Error" not in page.text
    assert emulator.messages(NUMBER) == []
    page.press('button[name="wizard_goto_step"]')  # Back
    page.press()  # Next, with the number kept
    assert "The code could not be sent" not in page.text
    otp = emulator.last_otp(NUMBER)
    assert otp is not None
    page.type("validation-token", otp)
    page.press()
    assert "Congratulations" in page.text
    assert TwoFactorSMSDevice.objects.get(user=user).confirmed


def test_outcome_unknown_then_send_again_says_what_happened(
    page: Page, user: AbstractBaseUser, emulator: Emulator
) -> None:
    # 2Factor's gateway answers with an HTML error page: the SMS may have gone out.
    device = TwoFactorSMSDevice.objects.create(
        user=user, name="default", number=NUMBER, confirmed=True
    )
    emulator.inject("html", status=502, match="/SMS/", times=1)

    _log_in_with_password(page)

    assert "We could not confirm that a text message went out." in page.text
    assert "the SMS may still arrive" in page.text
    assert "No text message went out" not in page.text and "We sent you" not in page.text
    sent = len(emulator.messages())

    # the cooldown holds (the SMS may arrive): "send again" sends nothing and says how long
    page.press(f'button[name="challenge_device"][value="{device.persistent_id}"]')

    assert "No new code was sent: you can ask for one in " in page.text
    assert "No new text message was sent." in page.text
    assert "We sent you" not in page.text
    assert len(emulator.messages()) == sent


def test_setup_wizard_another_number_waits_for_the_cooldown(
    page: Page, user: AbstractBaseUser, emulator: Emulator
) -> None:
    _log_in_with_password(page)
    page.open(SETUP)
    page.press()  # welcome
    page.css('input[value="twofactor_sms"]').click()
    page.press()
    page.type("twofactor_sms-number", "98123 45678")
    page.press()
    assert "Sent by SMS to +91******5678." in page.text
    page.press('button[name="wizard_goto_step"]')  # Back
    page.type("twofactor_sms-number", "98765 43210")
    page.press()

    assert "No new code was sent: you can ask for one in " in page.text
    assert "No new code was sent to +91******3210." in page.text
    assert "Sent by SMS" not in page.text
    assert len(emulator.messages()) == 1
