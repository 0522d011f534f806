"""The Celery app of ways (b) and (c): one task per reminder, as the usual tutorials do it.

Settings follow Celery's and django-celery-beat's documentation (see bench/README.md): acks_late
with a prefetch multiplier of 1 and reject-on-worker-lost (the product's own Celery settings,
inherited), and a Redis visibility timeout longer than the longest ETA of the run.
"""

from __future__ import annotations

import os
import time

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.compare.settings")

app = Celery("compare")
app.config_from_object("django.conf:settings", namespace="CELERY")


@app.task(name="bench.compare.deliver", ignore_result=True, acks_late=True)
def deliver(reminder_id: int, patient_id: int) -> None:
    """Send one reminder: read its patient, send an email through Django's mail (the recording backend)."""
    from django.core.mail import EmailMessage

    from patients.models import Patient

    patient = Patient.objects.only("email", "first_name").get(pk=patient_id)
    message = EmailMessage(
        subject="Your preparation reminder",
        body=f"Dear {patient.first_name}, this is reminder {reminder_id}.",
        to=[patient.email or "nobody@example.test"],
        headers={"Reminder-Id": str(reminder_id)},
    )
    message.send()
    return None


def now() -> float:
    return time.time()
