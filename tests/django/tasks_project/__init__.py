"""A Django project run by real ``django-tasks-db`` workers (``manage.py db_worker``) in
``tests/django/test_tasks_worker.py``: PostgreSQL, the emulator, ``ENGINE: "django-tasks"``."""
