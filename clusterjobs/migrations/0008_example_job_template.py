"""A template for the example training job (examples/train.py), offered to every project, so a
newcomer's first submission form has one job that runs as it is."""

from django.db import migrations

TITLE = "Example: train a small model"


def add_example(apps, schema_editor):
    JobTemplate = apps.get_model("clusterjobs", "JobTemplate")
    if JobTemplate.objects.filter(project=None, title=TITLE).exists():
        return
    JobTemplate.objects.create(
        title=TITLE,
        description=(
            "Trains a digit classifier with scikit-learn (the data ships with scikit-learn) and logs "
            "its parameters, metrics and model to the job's MLflow run: examples/train.py."
        ),
        image="",  # the site's default image (TALLER_DEFAULT_JOB_IMAGE)
        command=["python", "-m", "examples.train", "--epochs", "10"],
        cpu=1,
        memory_mib=2048,
        gpus=0,
        time_limit_minutes=30,
    )


def remove_example(apps, schema_editor):
    apps.get_model("clusterjobs", "JobTemplate").objects.filter(project=None, title=TITLE).delete()


class Migration(migrations.Migration):
    dependencies = [("clusterjobs", "0007_job_templates_of_a_project")]

    operations = [migrations.RunPython(add_example, remove_example)]
