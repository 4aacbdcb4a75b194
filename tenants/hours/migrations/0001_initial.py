"""OpeningHours and Closure, moved here from bookings with their tables and rows: the models enter this
app's state only. The tables were created by bookings/0001, hence the dependency; the content types
are relabelled so the permissions that name them (the "Front desk" group) follow the models."""

from django.db import migrations, models


def relabel_content_types(apps, schema_editor):
    content_types = apps.get_model("contenttypes", "ContentType")
    for model in ("openinghours", "closure"):
        if not content_types.objects.filter(app_label="hours", model=model).exists():
            content_types.objects.filter(app_label="bookings", model=model).update(app_label="hours")


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('bookings', '0004_opening_hours_move_to_tenants_hours'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.RunPython(relabel_content_types, migrations.RunPython.noop),
        migrations.SeparateDatabaseAndState(database_operations=[], state_operations=[
        migrations.CreateModel(
            name='Closure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('date', models.DateField(unique=True)),
                ('reason', models.CharField(blank=True, max_length=200)),
            ],
            options={
                'db_table': 'bookings_closure',
                'ordering': ['date'],
            },
        ),
        migrations.CreateModel(
            name='OpeningHours',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('weekday', models.PositiveSmallIntegerField(choices=[(0, 'Monday'), (1, 'Tuesday'), (2, 'Wednesday'), (3, 'Thursday'), (4, 'Friday'), (5, 'Saturday'), (6, 'Sunday')])),
                ('opens', models.TimeField()),
                ('closes', models.TimeField()),
            ],
            options={
                'verbose_name_plural': 'opening hours',
                'db_table': 'bookings_openinghours',
                'ordering': ['weekday', 'opens'],
                'constraints': [models.CheckConstraint(condition=models.Q(('opens__lt', models.F('closes'))), name='opening_opens_before_closes'), models.CheckConstraint(condition=models.Q(('weekday__lte', 6)), name='opening_weekday_range'), models.UniqueConstraint(fields=('weekday', 'opens'), name='opening_unique_start')],
            },
        ),
    ]),
]
