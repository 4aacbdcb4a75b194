import tenants.models
from django.db import migrations, models

PRICED_TABLES = ("orders_menuitem", "bookings_service")


def currency_from_prices_or_country(apps, schema_editor):
    """Each existing business gets the currency most of its prices are already in (the demo pizzeria
    priced in EUR), else its country's; then every price in its schema is put in that one currency,
    so no order can mix two. Raw SQL on the tenant's schema: this is a public-schema migration, and
    the tenant tables' models are not in its state."""
    from babel.numbers import get_territory_currencies

    Tenant = apps.get_model("tenants", "Tenant")
    with schema_editor.connection.cursor() as cursor:
        for tenant in Tenant.objects.exclude(schema_name="public"):
            counts: dict[str, int] = {}
            tables = []
            for table in PRICED_TABLES:
                cursor.execute("SELECT to_regclass(%s)", [f'"{tenant.schema_name}".{table}'])
                if cursor.fetchone()[0] is None:
                    continue
                tables.append(table)
                cursor.execute(f'SELECT currency, count(*) FROM "{tenant.schema_name}".{table} GROUP BY currency')
                for currency, count in cursor.fetchall():
                    counts[currency] = counts.get(currency, 0) + count
            if counts:
                currency = max(sorted(counts), key=counts.get)
            else:
                currencies = get_territory_currencies(tenant.country, tender=True) if tenant.country else []
                currency = currencies[0] if currencies else "USD"
            tenant.currency = currency
            tenant.save(update_fields=["currency"])
            for table in tables:
                cursor.execute(f'UPDATE "{tenant.schema_name}".{table} SET currency = %s WHERE currency <> %s',
                               [currency, currency])


class Migration(migrations.Migration):

    dependencies = [
        ('tenants', '0005_merge_dead_letters_and_sip_state'),
    ]

    operations = [
        migrations.AddField(
            model_name='tenant',
            name='currency',
            field=models.CharField(default='USD', help_text='Three-letter ISO code (EUR, GBP, USD). Every price, order and total of the business is in it.', max_length=3, validators=[tenants.models.validate_currency]),
        ),
        migrations.RunPython(currency_from_prices_or_country, migrations.RunPython.noop),
    ]
