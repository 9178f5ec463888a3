"""The message log holds one message per idempotency key, enforced by the database.

Each row of a key gets its position under it (``queue_seq``: 0, 1…), unique with the key; a
row without a key keeps none (NULL). Rows written before this migration are numbered in the
order they were written, so a key that already holds two messages (two transactions queued
them at once) keeps both rows and the constraint holds all the same.
"""

from typing import Any

from django.db import migrations, models


def number_keyed_rows(apps: Any, schema_editor: Any) -> None:
    rows = (
        apps.get_model("django_twofactor", "OutgoingMessage")
        .objects.using(schema_editor.connection.alias)
        .exclude(queue_key="")
        .order_by("queue_key", "id")
        .only("id", "queue_key")
    )
    batch: list[Any] = []
    key, seq = None, 0
    for row in rows.iterator(chunk_size=2000):
        seq = seq + 1 if row.queue_key == key else 0
        key = row.queue_key
        row.queue_seq = seq
        batch.append(row)
        if len(batch) >= 2000:
            rows.model.objects.using(schema_editor.connection.alias).bulk_update(batch, ["queue_seq"])
            batch = []
    if batch:
        rows.model.objects.using(schema_editor.connection.alias).bulk_update(batch, ["queue_seq"])


class Migration(migrations.Migration):

    dependencies = [
        ('django_twofactor', '0008_unreadable_state'),
    ]

    operations = [
        migrations.AddField(
            model_name='outgoingmessage',
            name='queue_seq',
            field=models.PositiveIntegerField(blank=True, editable=False, help_text='0, 1, 2… for the rows of one idempotency key (empty without a key): unique with the key, so that two transactions cannot both log a message under one key.', null=True, verbose_name='position under the key'),
        ),
        migrations.RunPython(number_keyed_rows, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='outgoingmessage',
            constraint=models.UniqueConstraint(fields=('queue_key', 'queue_seq'), name='tfn_msg_one_per_key'),
        ),
    ]
