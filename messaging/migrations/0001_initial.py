"""SmsMessage, moved here from calls with its table (`calls_smsmessage`) and its rows: the model enters
messaging's state only, the table is left as it is. The content type is relabelled so the permissions
that name it (the "Front desk" group's view_smsmessage) and the admin's history follow the model."""

import django.db.models.deletion
from django.db import migrations, models


def relabel_content_type(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType")
    if not content_types.objects.filter(app_label="messaging", model="smsmessage").exists():
        content_types.objects.filter(app_label="calls", model="smsmessage").update(app_label="messaging")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('bookings', '0002_initial'),
        ('contenttypes', '0002_remove_content_type_name'),
        ('calls', '0008_smsmessage_moves_to_messaging'),
        ('orders', '0001_initial'),
    ]

    operations = [
        migrations.RunPython(relabel_content_type, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[migrations.CreateModel(
            name='SmsMessage',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('confirmation', 'Confirmation'), ('order_ready', 'Order ready'), ('booking_cancelled', 'Booking cancelled'), ('booking_reminder', 'Booking reminder'), ('booking_rescheduled', 'Booking moved by the caller'), ('cancel_confirmation', 'Cancellation by the caller')], default='confirmation', max_length=20)),
                ('to_number', models.CharField(max_length=20)),
                ('from_number', models.CharField(blank=True, max_length=20)),
                ('body', models.TextField(max_length=1600)),
                ('status', models.CharField(choices=[('queued', 'Queued'), ('sent', 'Sent'), ('failed', 'Failed'), ('skipped', 'Skipped')], default='queued', max_length=10)),
                ('provider_id', models.CharField(blank=True, max_length=64)),
                ('error', models.TextField(blank=True)),
                ('attempts', models.PositiveSmallIntegerField(default=0)),
                ('created', models.DateTimeField(auto_now_add=True)),
                ('updated', models.DateTimeField(auto_now=True)),
                ('booking', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='sms_messages', to='bookings.booking')),
                ('call', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='sms_messages', to='calls.call')),
                ('order', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='sms_messages', to='orders.order')),
            ],
            options={
                'verbose_name': 'SMS message',
                'db_table': 'calls_smsmessage',
                'ordering': ['-created'],
            },
        )]),
    ]
