from django.utils import timezone

from core.models import Heartbeat


def heartbeat_record(*, name: str = "worker", hostname: str = "") -> Heartbeat:
    beat, _ = Heartbeat.objects.update_or_create(
        name=name, defaults={"last_run_at": timezone.now(), "hostname": hostname[:255]}
    )
    return beat
