"""Django app for twofactor-notify: SMS backends, phone + OTP login, delivery webhooks."""
