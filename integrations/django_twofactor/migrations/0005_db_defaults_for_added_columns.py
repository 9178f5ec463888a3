"""Columns added to existing tables get database defaults: rows written without them go in.

Migrations 0002 (``handed_over`` of both report tables), 0003 (``queue_key`` of the
message log) and 0004 (``lease_until`` of both report tables) added NOT NULL columns with no default in the database, so a row written
without them failed: code from before the migration still running during a rolling
deploy, and raw ``INSERT`` statements (the storm benchmark's). Only the background path
sets ``queue_key``.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_twofactor', '0004_report_hand_over_lease_and_status_order'),
    ]

    operations = [
        migrations.AlterField(
            model_name='clickreport',
            name='lease_until',
            field=models.FloatField(db_default=0.0, default=0.0, editable=False, help_text='While a webhook request hands the report over, no concurrent copy does; a retry after this time finishes a hand-over that was cut short.', verbose_name='hand-over held until (POSIX time)'),
        ),
        migrations.AlterField(
            model_name='deliveryreport',
            name='lease_until',
            field=models.FloatField(db_default=0.0, default=0.0, editable=False, help_text='While a webhook request hands the report over, no concurrent copy does; a retry after this time finishes a hand-over that was cut short.', verbose_name='hand-over held until (POSIX time)'),
        ),
        migrations.AlterField(
            model_name='clickreport',
            name='handed_over',
            field=models.BooleanField(db_default=True, default=True, editable=False, help_text='False while the webhook has stored the report but not yet called every plugin and receiver; a retry of the report finishes the hand-over.', verbose_name='handed over'),
        ),
        migrations.AlterField(
            model_name='deliveryreport',
            name='handed_over',
            field=models.BooleanField(db_default=True, default=True, editable=False, help_text='False while the webhook has stored the report but not yet called every plugin and receiver; a retry of the report finishes the hand-over.', verbose_name='handed over'),
        ),
        migrations.AlterField(
            model_name='outgoingmessage',
            name='queue_key',
            field=models.CharField(blank=True, db_default='', db_index=True, default='', help_text='Set for a message sent in the background: its key in the send ledger.', max_length=200, verbose_name='idempotency key'),
        ),
    ]
