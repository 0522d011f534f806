"""Done-when 3: Redis stopped for 30 s while reminders fall due. The web keeps answering (health
page and a staff page), checklist changes still plan reminders, and once Redis is back nothing is
lost or doubled. The test runs its own redis-server: the machine's Redis is left alone."""

from __future__ import annotations

import datetime as dt
import time
from collections import Counter

import pytest
from django.utils import timezone

from actions.items import item_complete
from devtools.outbox import due_reminders, open_all_hours
from devtools.processes import OwnRedis, celery_worker, wait_for
from devtools.standins import provider_env
from prep.models import ChecklistItem
from reminders.models import Channel, Reminder, Status
from tests import services
from tests.factories import in_days
from tests.reliability.procs import celery_beat
from tests.reminders.helpers import sms_fields

pytestmark = [pytest.mark.redis, pytest.mark.django_db(transaction=True), pytest.mark.slow]

OUTAGE_SECONDS = 30


@pytest.fixture
def own_redis():

    server = OwnRedis().start()
    # The web process (this test process) talks to the same broker as the worker and beat.
    with services.celery_broker(server.url):
        yield server
    server.stop()


def test_redis_down_for_30_seconds_pages_work_and_nothing_is_lost(
    book, clinic, nurse, clinic_admin, client, login, smtp_server, sms_server, own_redis
):
    open_all_hours(clinic)
    surgeries = [book(start_at=in_days(20), anaesthesia="local", **sms_fields(n)) for n in range(10)]
    now = timezone.now()
    before = []
    for surgery in surgeries[:5]:
        before += due_reminders(surgery, 2, channel=Channel.EMAIL, prefix="out-now", due_at=now)
    env = {
        **provider_env(smtp_server, sms_server),
        "REMINDERS_DISPATCH_INTERVAL": "1",
        "REMINDERS_LEASE_SECONDS": "5",
        "REDIS_URL": own_redis.url,
    }
    with (
        celery_beat(broker_url=own_redis.url, extra_env=env),
        celery_worker(broker_url=own_redis.url, concurrency=2, extra_env=env, name="outage"),
    ):
        sent = lambda keys: Reminder.objects.filter(key__startswith=keys, status=Status.SENT).count()  # noqa: E731
        wait_for(lambda: sent("out-now") == len(before), timeout=60, what="the first reminders, Redis up")

        # Reminders that fall due while Redis is down, spread over the outage.
        start = timezone.now()
        during = []
        for i, surgery in enumerate(surgeries):
            at = start + dt.timedelta(seconds=3 + 2.5 * i)
            during += due_reminders(surgery, 1, channel=Channel.EMAIL, prefix="out-during", due_at=at)
            during += due_reminders(surgery, 1, channel=Channel.SMS, prefix="out-during", due_at=at)
        assert client.get("/healthz").json()["broker"] == "ok"
        own_redis.stop()
        login(client, clinic_admin)
        deadline = time.monotonic() + OUTAGE_SECONDS
        checks = 0
        while time.monotonic() < deadline:
            t0 = time.monotonic()
            health = client.get("/healthz")
            assert health.status_code == 503 and health.json()["broker"].startswith("unreachable")
            assert client.get("/reminders/outbox/").status_code == 200
            assert time.monotonic() - t0 < 8, "pages answer promptly without Redis"
            checks += 1
            time.sleep(2)
        assert checks >= 3
        # A checklist change still re-plans its reminders (the database is the outbox, not Redis).
        item = ChecklistItem.objects.get(checklist__surgery=surgeries[0], code="ecg")
        item_complete(item=item, by=nurse, result="normal")
        assert sent("out-during") == 0, "nothing could be sent while Redis was down"

        own_redis.start()  # the same port; it comes back empty (no persistence)
        wait_for(
            lambda: sent("out-during") == len(during),
            timeout=150,
            interval=0.5,
            what="every reminder due during the outage sent after Redis came back",
        )

    email_counts = Counter(smtp_server.handler.reminder_ids())
    sms_counts = Counter(sms_server.references())
    expected_emails = {str(r.uuid) for r in before + during if r.channel == Channel.EMAIL}
    expected_texts = {str(r.uuid) for r in during if r.channel == Channel.SMS}
    assert set(email_counts) == expected_emails and set(email_counts.values()) == {1}
    assert set(sms_counts) == expected_texts and set(sms_counts.values()) == {1}
