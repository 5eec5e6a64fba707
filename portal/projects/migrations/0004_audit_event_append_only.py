"""On PostgreSQL, the database itself refuses to change or delete an audit event.

The application already refuses (``AuditEvent.save``/``delete`` and the queryset's ``update``/
``delete`` raise; no page, API call or admin offers either); the trigger also stops raw SQL and any
code path that goes around the model. One change is allowed: a deleted user's events keep their
``actor_name`` and lose the foreign key (``on_delete=SET_NULL``). SQLite, the embedded default,
relies on the application's guard alone. Reversible: the reverse drops the trigger and function.
"""

from django.db import migrations

CREATE = """
CREATE FUNCTION projects_auditevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE'
       AND NEW.actor_id IS NULL AND OLD.actor_id IS NOT NULL
       AND (NEW.id, NEW.project_id, NEW.actor_name, NEW.verb, NEW.kind, NEW.target, NEW.message, NEW.at)
           IS NOT DISTINCT FROM
           (OLD.id, OLD.project_id, OLD.actor_name, OLD.verb, OLD.kind, OLD.target, OLD.message, OLD.at)
    THEN
        RETURN NEW;  -- the actor's account was deleted: the event keeps their name
    END IF;
    RAISE EXCEPTION 'the audit log is append-only: % refused on projects_auditevent', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER projects_auditevent_append_only
    BEFORE UPDATE OR DELETE ON projects_auditevent
    FOR EACH ROW EXECUTE FUNCTION projects_auditevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS projects_auditevent_append_only ON projects_auditevent;
DROP FUNCTION IF EXISTS projects_auditevent_append_only();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)  # the SQL has a literal %


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("projects", "0003_audit_event_backfill")]

    operations = [migrations.RunPython(create, drop)]
