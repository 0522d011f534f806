"""A provider message can be credited to one reminder only; emails note the hand-over to SMTP.

Before the constraint, rows that share a provider id (the reconciliation of issue 15 credited one
text to several reminders) are untangled: the row that sent first keeps the id, the others are
marked failed with the reason, since the patient never received a text of their own.
"""

from django.db import migrations, models
from django.db.models import Count, Q


def untangle_shared_provider_ids(apps, schema_editor):
    Reminder = apps.get_model("reminders", "Reminder")
    shared = (
        Reminder.objects.exclude(provider_id="")
        .values("provider_id")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .values_list("provider_id", flat=True)
    )
    for provider_id in list(shared):
        rows = list(Reminder.objects.filter(provider_id=provider_id).order_by("sent_at", "id"))
        for row in rows[1:]:
            Reminder.objects.filter(pk=row.pk).update(
                provider_id="",
                status="failed",
                status_reason="Credited with another reminder's message: never sent",
                last_error="Provider id shared with another reminder (reconciliation)",
            )


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0002_fewer_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="handed_over_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name="reminder",
            name="resends",
            field=models.PositiveIntegerField(default=0, help_text="Emails sent again after a lost commit."),
        ),
        migrations.RunPython(untangle_shared_provider_ids, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="reminder",
            constraint=models.UniqueConstraint(
                condition=~Q(provider_id=""), fields=("provider_id",), name="reminder_provider_id_unique"
            ),
        ),
    ]
