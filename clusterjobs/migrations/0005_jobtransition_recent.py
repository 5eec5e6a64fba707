from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clusterjobs", "0004_job_cancel_reason_lingering_leases_prepared_projects"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="jobtransition",
            index=models.Index(fields=["to_status", "at"], name="jobtransition_recent"),
        ),
    ]
