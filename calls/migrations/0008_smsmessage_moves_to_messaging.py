"""SmsMessage moved to the messaging app. Its table stays (messaging's model keeps `calls_smsmessage`):
this migration removes the model from calls' state only, and messaging/0001 adopts the table."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0007_merge_end_time_repair_and_sms_kinds'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='SmsMessage')],
            database_operations=[],
        ),
    ]
