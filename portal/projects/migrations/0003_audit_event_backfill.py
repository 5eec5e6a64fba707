"""Give the events recorded before kinds and actor names existed theirs."""

from django.db import migrations

# As portal/projects/models.py has them when this migration was written: a migration does not
# follow later edits of the model module.
LEGACY_KINDS = {
    "registered": "project",
    "approved": "project",
    "rejected": "project",
    "archived": "project",
    "member added": "member",
    "role changed": "member",
    "member removed": "member",
    "quota changed": "quota",
    "quota requested": "quota",
    "quota request declined": "quota",
    "member cap set": "quota",
    "member cap removed": "quota",
}
KINDS = {"project", "member", "quota", "job", "pipeline", "schedule", "webhook", "notification", "token",
         "model", "deployment"}  # fmt: skip


def kind_of(verb: str) -> str:
    if verb in LEGACY_KINDS:
        return LEGACY_KINDS[verb]
    prefix = verb.split(".", 1)[0]
    return prefix if prefix in KINDS else "other"


def backfill(apps, schema_editor):
    AuditEvent = apps.get_model("projects", "AuditEvent")
    for verb in AuditEvent.objects.values_list("verb", flat=True).distinct():
        AuditEvent.objects.filter(verb=verb).update(kind=kind_of(verb))
    User = apps.get_model("accounts", "User")
    for user_id in AuditEvent.objects.exclude(actor=None).values_list("actor_id", flat=True).distinct():
        username = User.objects.filter(pk=user_id).values_list("username", flat=True).first() or ""
        AuditEvent.objects.filter(actor_id=user_id).update(actor_name=username)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0002_audit_event_kind_target_actor_name"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(backfill, migrations.RunPython.noop)]
