import phonenumbers
from django.db import migrations, models

import tenants.models


def country_from_first_number(apps, schema_editor):
    """Existing tenants read numbers in the country of the first number that rings them."""
    Tenant = apps.get_model("tenants", "Tenant")
    for tenant in Tenant.objects.all():
        number = tenant.phone_numbers.order_by("created", "id").values_list("number", flat=True).first()
        if not number:
            continue
        region = phonenumbers.region_code_for_country_code(phonenumbers.parse(number, None).country_code)
        if region and region != "ZZ" and region != tenant.country:
            tenant.country = region
            tenant.save(update_fields=["country"])


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0002_btree_gist_in_public'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenant',
            name='country',
            field=models.CharField(default='US', help_text='Two-letter ISO code. Phone numbers given without a country code are read as numbers of this country.', max_length=2, validators=[tenants.models.validate_country]),
        ),
        migrations.RunPython(country_from_first_number, migrations.RunPython.noop),
    ]
