"""A project run by ``manage.py test --parallel`` with spawned workers (see
``test_testing_tools.test_parallel_spawned_workers_use_locmem``)."""
