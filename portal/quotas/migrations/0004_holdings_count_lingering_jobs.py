"""The holdings trigger counts a job as holding its resources while it is active or, once ended,
while what it ran still lingers on the cluster (``clusterjobs_job.lingering``: a cancelled job's
Pods terminating, which the namespace's quota still counts). PostgreSQL only, as 0003."""

from django.db import migrations

ACTIVE = "('dispatching', 'pending', 'running')"


def function(held_old: str, held_new: str) -> str:
    """The trigger function, with the expressions saying whether the old and new row hold."""
    return f"""
CREATE OR REPLACE FUNCTION taller_job_holdings() RETURNS trigger AS $$
BEGIN
    -- A move that keeps the job in the same bucket (held, waiting, or neither) changes nothing:
    -- skip it, so that dispatching -> pending -> running does not lock the project's row.
    IF TG_OP = 'UPDATE' AND OLD.project_id = NEW.project_id
       AND OLD.gpus = NEW.gpus AND OLD.cpu = NEW.cpu AND OLD.memory_mib = NEW.memory_mib
       AND ({held_old}) = ({held_new})
       AND (OLD.status = 'queued') = (NEW.status = 'queued') THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF {held_old} THEN
            UPDATE quotas_holding SET jobs = jobs - 1, gpus = gpus - OLD.gpus, cpu = cpu - OLD.cpu,
                memory_mib = memory_mib - OLD.memory_mib
            WHERE project_id = OLD.project_id;
        ELSIF OLD.status = 'queued' THEN
            UPDATE quotas_holding SET queued_jobs = queued_jobs - 1 WHERE project_id = OLD.project_id;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND ({held_new} OR NEW.status = 'queued') THEN
        INSERT INTO quotas_holding (project_id, jobs, gpus, cpu, memory_mib, queued_jobs)
        VALUES (NEW.project_id, 0, 0, 0, 0, 0) ON CONFLICT (project_id) DO NOTHING;
        IF NEW.status = 'queued' THEN
            UPDATE quotas_holding SET queued_jobs = queued_jobs + 1 WHERE project_id = NEW.project_id;
        ELSE
            UPDATE quotas_holding SET jobs = jobs + 1, gpus = gpus + NEW.gpus, cpu = cpu + NEW.cpu,
                memory_mib = memory_mib + NEW.memory_mib
            WHERE project_id = NEW.project_id;
        END IF;
    END IF;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
"""


def trigger(columns: str) -> str:
    return f"""
DROP TRIGGER IF EXISTS taller_job_holdings ON clusterjobs_job;
CREATE TRIGGER taller_job_holdings
AFTER INSERT OR DELETE OR UPDATE OF {columns} ON clusterjobs_job
FOR EACH ROW EXECUTE FUNCTION taller_job_holdings();
"""


def recount(held: str) -> str:
    return f"""
DELETE FROM quotas_holding;
INSERT INTO quotas_holding (project_id, jobs, gpus, cpu, memory_mib, queued_jobs)
SELECT project_id,
       COUNT(*) FILTER (WHERE {held}),
       COALESCE(SUM(gpus) FILTER (WHERE {held}), 0),
       COALESCE(SUM(cpu) FILTER (WHERE {held}), 0),
       COALESCE(SUM(memory_mib) FILTER (WHERE {held}), 0),
       COUNT(*) FILTER (WHERE status = 'queued')
FROM clusterjobs_job WHERE {held} OR status = 'queued' GROUP BY project_id;
"""


COLUMNS = "status, project_id, gpus, cpu, memory_mib"
FORWARD = (
    function(f"(OLD.status IN {ACTIVE} OR OLD.lingering)", f"(NEW.status IN {ACTIVE} OR NEW.lingering)")
    + trigger(f"{COLUMNS}, lingering")
    + recount(f"(status IN {ACTIVE} OR lingering)")
)
BACKWARD = (
    function(f"OLD.status IN {ACTIVE}", f"NEW.status IN {ACTIVE}")
    + trigger(COLUMNS)
    + recount(f"status IN {ACTIVE}")
)


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    dependencies = [
        ("quotas", "0003_job_holdings_trigger"),
        ("clusterjobs", "0004_job_cancel_reason_lingering_leases_prepared_projects"),
    ]

    operations = [migrations.RunPython(forward, backward)]
