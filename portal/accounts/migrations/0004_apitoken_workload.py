"""A token's ``project`` no longer means "a job's token" by itself: ``workload`` says so, and a
person's token may now name a project too (it then reaches that project alone)."""

import django.db.models.deletion
from django.db import migrations, models


def mark_job_tokens(apps, schema_editor):
    # Until now every token with a project was a job's.
    apps.get_model("accounts", "ApiToken").objects.filter(project__isnull=False).update(workload=True)


def unscope_personal_tokens(apps, schema_editor):
    # Going back, a project means a job's token again: a person's scoped token would become one,
    # so it is revoked instead of silently changing what it reaches.
    from django.utils import timezone

    apps.get_model("accounts", "ApiToken").objects.filter(project__isnull=False, workload=False).update(
        revoked_at=timezone.now(), project=None
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_external_identity"),
        ("projects", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="workload",
            field=models.BooleanField(default=False, editable=False),
        ),
        migrations.RunPython(mark_job_tokens, unscope_personal_tokens),
        migrations.AlterField(
            model_name="apitoken",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="expires"),
        ),
        migrations.AlterField(
            model_name="apitoken",
            name="project",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="projects.project",
                verbose_name="project",
            ),
        ),
    ]
