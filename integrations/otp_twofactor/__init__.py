"""django-otp plugin: a device that delivers tokens by SMS through 2Factor."""
