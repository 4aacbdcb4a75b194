# Joins two branches of work that each added a 0006 (repairing impossible end times; SMS kinds for caller changes).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0006_repair_impossible_end_times'),
        ('calls', '0006_sms_kinds_for_caller_changes'),
    ]

    operations = [
    ]
