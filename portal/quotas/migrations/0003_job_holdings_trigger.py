"""Keep quotas_holding exact with a trigger on the jobs table (PostgreSQL only).

Admission then reads one row per project (and the sum of those rows for the cluster) instead
of summing every active job, so its cost does not grow with the number of jobs. Other
databases (the embedded SQLite default) compute the same numbers from the jobs table.
"""

from django.db import migrations

ACTIVE = "('dispatching', 'pending', 'running')"

CREATE = f"""
CREATE OR REPLACE FUNCTION taller_job_holdings() RETURNS trigger AS $$
BEGIN
    -- A move that keeps the job in the same bucket (held, waiting, or neither) changes nothing:
    -- skip it, so that dispatching -> pending -> running does not lock the project's row.
    IF TG_OP = 'UPDATE' AND OLD.project_id = NEW.project_id
       AND OLD.gpus = NEW.gpus AND OLD.cpu = NEW.cpu AND OLD.memory_mib = NEW.memory_mib
       AND (OLD.status IN {ACTIVE}) = (NEW.status IN {ACTIVE})
       AND (OLD.status = 'queued') = (NEW.status = 'queued') THEN
        RETURN NULL;
    END IF;
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        IF OLD.status IN {ACTIVE} THEN
            UPDATE quotas_holding SET jobs = jobs - 1, gpus = gpus - OLD.gpus, cpu = cpu - OLD.cpu,
                memory_mib = memory_mib - OLD.memory_mib
            WHERE project_id = OLD.project_id;
        ELSIF OLD.status = 'queued' THEN
            UPDATE quotas_holding SET queued_jobs = queued_jobs - 1 WHERE project_id = OLD.project_id;
        END IF;
    END IF;
    IF TG_OP IN ('UPDATE', 'INSERT') AND (NEW.status IN {ACTIVE} OR NEW.status = 'queued') THEN
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

CREATE TRIGGER taller_job_holdings
AFTER INSERT OR DELETE OR UPDATE OF status, project_id, gpus, cpu, memory_mib ON clusterjobs_job
FOR EACH ROW EXECUTE FUNCTION taller_job_holdings();

DELETE FROM quotas_holding;
INSERT INTO quotas_holding (project_id, jobs, gpus, cpu, memory_mib, queued_jobs)
SELECT project_id,
       COUNT(*) FILTER (WHERE status IN {ACTIVE}),
       COALESCE(SUM(gpus) FILTER (WHERE status IN {ACTIVE}), 0),
       COALESCE(SUM(cpu) FILTER (WHERE status IN {ACTIVE}), 0),
       COALESCE(SUM(memory_mib) FILTER (WHERE status IN {ACTIVE}), 0),
       COUNT(*) FILTER (WHERE status = 'queued')
FROM clusterjobs_job WHERE status IN {ACTIVE} OR status = 'queued' GROUP BY project_id;
"""

DROP = """
DROP TRIGGER IF EXISTS taller_job_holdings ON clusterjobs_job;
DROP FUNCTION IF EXISTS taller_job_holdings();
"""


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [
        ("quotas", "0002_quota_history_requests_caps_holdings"),
        ("clusterjobs", "0001_jobs_transitions_templates"),
    ]

    operations = [migrations.RunPython(create, drop)]
