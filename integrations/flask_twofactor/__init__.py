"""Flask extension for twofactor-notify."""
