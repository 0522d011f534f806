from celery import shared_task

from core.services import heartbeat_record


@shared_task(bind=True, ignore_result=True)
def heartbeat(self) -> None:  # noqa: ANN001 - Celery's bound task
    heartbeat_record(name="worker", hostname=self.request.hostname or "")
