from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('calls', '0011_front_desk_listens_to_recordings'),
    ]

    operations = [
        migrations.AddField(
            model_name='call',
            name='sip_call_id_full',
            field=models.CharField(blank=True, max_length=300),
        ),
        migrations.AddField(
            model_name='call',
            name='avg_e2e_latency_ms',
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
    ]
