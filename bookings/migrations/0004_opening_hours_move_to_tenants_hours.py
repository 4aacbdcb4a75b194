"""OpeningHours and Closure moved to `tenants.hours` (orders read them too). Their tables stay: this
removes the models from bookings' state only, and hours/0001 adopts the tables."""
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0003_booking_changes'),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name='Closure'), migrations.DeleteModel(name='OpeningHours')],
            database_operations=[],
        ),
    ]
