# Joins two branches of work that each added a 0004 (dead-letter payload as text; SIP line state).

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0004_dead_letter_payload_text'),
        ('tenants', '0004_phone_number_sip_state'),
    ]

    operations = [
    ]
