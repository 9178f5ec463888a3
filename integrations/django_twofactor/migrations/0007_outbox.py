"""The outbox: a message queued in the background keeps its envelope here, written in the
caller's transaction, until a task queue has taken it."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_twofactor", "0006_queued_state_labels"),
    ]

    operations = [
        migrations.CreateModel(
            name="OutboxMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "key",
                    models.CharField(max_length=200, unique=True, verbose_name="idempotency key"),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[("otp", "OTP"), ("sms", "SMS"), ("bulk", "Bulk SMS")],
                        max_length=8,
                        verbose_name="kind",
                    ),
                ),
                ("envelope", models.JSONField(editable=False, verbose_name="envelope")),
                (
                    "attempts",
                    models.PositiveIntegerField(default=0, verbose_name="failed hand-overs"),
                ),
                ("error", models.CharField(blank=True, max_length=64, verbose_name="last error")),
                (
                    "tried_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="last tried"),
                ),
                (
                    "created_at",
                    models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="queued"),
                ),
            ],
            options={
                "verbose_name": "SMS waiting for the task queue",
                "verbose_name_plural": "SMS waiting for the task queue",
                "ordering": ("created_at", "id"),
            },
        ),
    ]
