"""The queued messages' states are the ledger's: ``queued`` reads "In the task queue (not
sent yet)" (it read "Sent (2Factor queued it)", the message log's label), and
``task_queued``, a state the ledger never uses, is gone."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("django_twofactor", "0005_db_defaults_for_added_columns"),
    ]

    operations = [
        migrations.AlterField(
            model_name="queuedmessage",
            name="state",
            field=models.CharField(
                choices=[
                    ("queued", "In the task queue (not sent yet)"),
                    ("sending", "Sending"),
                    ("retry_wait", "Waiting to retry (never sent)"),
                    ("sent", "Sent"),
                    ("failed", "Failed (never sent)"),
                    ("unknown", "Outcome unknown"),
                ],
                default="queued",
                max_length=16,
                verbose_name="state",
            ),
        ),
    ]
