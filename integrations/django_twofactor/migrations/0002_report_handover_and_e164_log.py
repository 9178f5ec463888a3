"""Reports remember whether their hand-over finished; log rows hold E.164 numbers.

``handed_over`` is true for every report stored before (the webhook announced those as it
stored them); the webhook writes new ones false and sets it once every plugin and receiver
was called, so that a retry of a report whose hand-over was cut short finishes it.

Bulk rows were logged with the number as typed (``"98765 43210"``): their delivery reports
never matched them. Numbers that parse are rewritten in E.164 form; others are kept.
"""

from django.conf import settings
from django.db import migrations, models


def log_numbers_to_e164(apps, schema_editor):
    from twofactor_notify.errors import InvalidPhoneNumberError
    from twofactor_notify.phone import normalize_phone

    region = str((getattr(settings, "TWOFACTOR_NOTIFY", None) or {}).get("REGION") or "IN")
    OutgoingMessage = apps.get_model("django_twofactor", "OutgoingMessage")
    rows = OutgoingMessage.objects.using(schema_editor.connection.alias)
    for pk, recipient in rows.exclude(recipient__startswith="+").values_list("pk", "recipient"):
        try:
            e164 = normalize_phone(recipient, region=region)
        except InvalidPhoneNumberError:
            continue
        rows.filter(pk=pk).update(recipient=e164[:20])


class Migration(migrations.Migration):

    dependencies = [
        ("django_twofactor", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="clickreport",
            name="handed_over",
            field=models.BooleanField(default=True, editable=False, help_text="False while the webhook has stored the report but not yet called every plugin and receiver; a retry of the report finishes the hand-over.", verbose_name="handed over"),
        ),
        migrations.AddField(
            model_name="deliveryreport",
            name="handed_over",
            field=models.BooleanField(default=True, editable=False, help_text="False while the webhook has stored the report but not yet called every plugin and receiver; a retry of the report finishes the hand-over.", verbose_name="handed over"),
        ),
        migrations.RunPython(log_numbers_to_e164, migrations.RunPython.noop, elidable=True),
    ]
