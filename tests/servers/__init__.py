"""The webhooks behind real servers: gunicorn, werkzeug's and Django's development servers."""
