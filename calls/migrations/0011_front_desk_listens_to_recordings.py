"""The "Front desk" group of every existing tenant may listen to call recordings (new tenants get it
from provisioning's FRONT_DESK_PERMISSIONS); the owner can take it away in Groups. Permissions are
normally created after migrations run, so this one is created here."""
from django.db import migrations

GROUP = "Front desk"


def grant(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=GROUP).first()
    if group is None:
        return
    content_type, _ = ContentType.objects.get_or_create(app_label="calls", model="callrecording")
    permission, _ = Permission.objects.get_or_create(
        content_type=content_type, codename="listen_callrecording",
        defaults={"name": "Can listen to call recordings"})
    group.permissions.add(permission)


def revoke(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    group = Group.objects.filter(name=GROUP).first()
    if group is not None:
        group.permissions.remove(*Permission.objects.filter(codename="listen_callrecording",
                                                            content_type__app_label="calls"))


class Migration(migrations.Migration):
    dependencies = [
        ("calls", "0010_call_recordings"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(grant, revoke)]
