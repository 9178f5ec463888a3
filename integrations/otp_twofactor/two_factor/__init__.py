"""django-two-factor-auth's method "SMS via 2Factor".

:class:`~otp_twofactor.models.TwoFactorSMSDevice` in two_factor's setup and login wizards.

Add ``"otp_twofactor.two_factor"`` to ``INSTALLED_APPS`` (after ``"two_factor"`` and
``"otp_twofactor"``): its app registers :class:`~otp_twofactor.two_factor.method.TwoFactorSMSMethod`
in two_factor's method registry. Route two_factor's URLs through
:mod:`otp_twofactor.two_factor.urls`, whose views finish the setup of any registered method
and turn a failed SMS into a form error (see :mod:`otp_twofactor.two_factor.views`).
"""
