"""A queued message a worker could not read (a newer envelope version, a bad field) is
recorded ``unreadable``: never sent, and a readable delivery of its key may still go."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('django_twofactor', '0007_outbox'),
    ]

    operations = [
        migrations.AlterField(
            model_name='queuedmessage',
            name='state',
            field=models.CharField(choices=[('queued', 'In the task queue (not sent yet)'), ('sending', 'Sending'), ('retry_wait', 'Waiting to retry (never sent)'), ('sent', 'Sent'), ('failed', 'Failed (never sent)'), ('unknown', 'Outcome unknown'), ('unreadable', 'Unreadable by a worker (never sent)')], default='queued', max_length=16, verbose_name='state'),
        ),
    ]
