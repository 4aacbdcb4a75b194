# The key a caller presses to reach a person, chosen by the business (issue 21 item 7).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('agent', '0006_support_login_audit'),
    ]

    operations = [
        migrations.AddField(
            model_name='agentsettings',
            name='keypad_operator_key',
            field=models.CharField(choices=[('0', '0'), ('1', '1'), ('2', '2'), ('3', '3'), ('4', '4'), ('5', '5'), ('6', '6'), ('7', '7'), ('8', '8'), ('9', '9'), ('*', '*'), ('#', '#')], default='0', help_text='Callers who press this key alone on their keypad are transferred to a person, or get a callback queued when nobody takes transfers.', max_length=1, verbose_name='key to reach a person'),
        ),
    ]
