"""What a caller must give to move or cancel a booking by phone (issue 29, item 3): the name on the
booking (every existing business), or also a code texted to the booking's phone."""
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bookings', '0004_opening_hours_move_to_tenants_hours'),
    ]

    operations = [
        migrations.AddField(
            model_name='bookingpolicy',
            name='change_verification',
            field=models.CharField(choices=[('name', 'The name on the booking'), ('code', "The name, and a code texted to the booking's phone when calling from another number")], default='name', help_text='What a caller must give to move or cancel a booking by phone.', max_length=10),
        ),
    ]
