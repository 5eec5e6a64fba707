# A dispatch claim names its attempt and holds until a time that the attempt renews, instead of
# going stale a fixed time after it was taken: a dead worker's claim lapses within a minute.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('clusterjobs', '0002_job_dispatch_claim'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='job',
            name='dispatch_claimed_at',
        ),
        migrations.AddField(
            model_name='job',
            name='dispatch_claim',
            field=models.CharField(blank=True, editable=False, max_length=64),
        ),
        migrations.AddField(
            model_name='job',
            name='dispatch_claimed_until',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
    ]
