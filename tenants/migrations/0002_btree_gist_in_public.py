from django.db import migrations


class Migration(migrations.Migration):
    """Booking overlap is refused by an exclusion constraint that mixes `=` on integers with `&&` on
    ranges, which needs btree_gist. Extensions are per database but live in one schema: installing
    it from a tenant migration would put it in the first tenant's schema, invisible to the others.
    In public it is on every tenant's search_path."""

    dependencies = [("tenants", "0001_initial")]

    operations = [
        migrations.RunSQL(
            "CREATE EXTENSION IF NOT EXISTS btree_gist WITH SCHEMA public;",
            reverse_sql=migrations.RunSQL.noop,
        )
    ]
