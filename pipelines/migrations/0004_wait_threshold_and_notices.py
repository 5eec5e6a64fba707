import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("clusterjobs", "0008_example_job_template"),
        ("pipelines", "0003_notification_choices_webhooks_and_deliveries"),
    ]

    operations = [
        migrations.AddField(
            model_name="notificationchoice",
            name="wait_longer_than",
            field=models.DurationField(blank=True, null=True, verbose_name="when one waits longer than"),
        ),
        migrations.CreateModel(
            name="WaitNotice",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("told", models.BooleanField(default=True)),
                ("at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "job",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="clusterjobs.job"
                    ),
                ),
                (
                    "run",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="pipelines.pipelinerun",
                    ),
                ),
            ],
        ),
    ]
