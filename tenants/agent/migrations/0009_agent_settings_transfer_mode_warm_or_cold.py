from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agent', '0008_transfer_ringing_timeout_fallback_and_staff_text'),
    ]

    operations = [
        migrations.AddField(
            model_name='agentsettings',
            name='transfer_mode',
            field=models.CharField(choices=[('cold', 'Cold: put the caller straight through'), ('warm', 'Warm: the agent briefs the person first')], default='cold', help_text='Warm: the caller holds while the agent calls your number, says who is calling and why, and connects them once you press 1 (2 declines). Needs the outbound SIP trunk (docs/sip.md).', max_length=10),
        ),
    ]
