"""Real MLLP frames over TCP to the running listener (python-hl7's asyncio server).

The listener runs in a thread of this process (its own event loop, the ORM in a worker thread) or,
for the kill test, as the real ``manage.py hl7_listener`` process, killed with SIGKILL between
storing a message and processing it.
"""

from __future__ import annotations

import asyncio
import io
import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command
from django.db import connections

from devtools import hl7feed
from devtools.processes import ROOT, free_port, stop_process, subprocess_env, wait_for
from inbox import services
from inbox.listener import Listener
from inbox.models import InboxMessage, MessageStatus
from prep.models import ChecklistItem, ItemStatus
from tests.factories import in_days
from tests.inbox.helpers import hemoglobin, inr

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


class ThreadListener:
    def __init__(self, clinic, *, enqueue) -> None:
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.listener = Listener(clinic=clinic, port=self.port, enqueue=enqueue)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> ThreadListener:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.listener.start(), self.loop).result(30)
        return self

    def __exit__(self, *exc) -> None:
        async def close() -> None:
            assert self.listener.server is not None
            self.listener.server.close()
            await sync_to_async(connections.close_all, thread_sensitive=True)()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    def send(self, *messages: str) -> list[tuple[str, str]]:
        return [hl7feed.ack_code(a) for a in hl7feed.send("127.0.0.1", self.port, list(messages))]


def _inline(message_id: int) -> None:
    # The worker's task, run at once in the listener's database thread: the test sees the outcome.
    services.message_process(message_id=message_id)


def _item(surgery, code):
    return ChecklistItem.objects.get(checklist__surgery=surgery, code=code)


def test_results_over_mllp_complete_review_dedupe_and_reject(book, clinic):
    surgery = book(medications=["warfarin"], start_at=in_days(2))
    mrn = surgery.patient.mrn
    with ThreadListener(clinic, enqueue=_inline) as listener:
        valid = hemoglobin(control="LAB-1", mrn=mrn)
        acks = listener.send(valid, inr(control="LAB-2", mrn=mrn, value="2.6"), "garbage, not HL7")
        assert acks[0] == ("AA", "accepted")
        assert acks[1] == ("AA", "accepted")  # well formed and known: the range is the nurse's business
        assert acks[2][0] == "AR" and "malformed" in acks[2][1]

        hb = _item(surgery, "hemoglobin")
        assert hb.status == ItemStatus.DONE and hb.result_value == "13.2"
        assert "received from LAB^MAINLAB" in hb.history.first().history_change_reason
        inr_message = InboxMessage.objects.get(control_id="LAB-2")
        assert inr_message.status == MessageStatus.REVIEW and "above the clinic's limit" in inr_message.outcome
        assert _item(surgery, "inr").status == ItemStatus.OPEN
        bad = InboxMessage.objects.get(status=MessageStatus.REJECTED)
        assert bad.raw.strip() == "garbage, not HL7" and bad.ack_code == "AR"

        # Resent (the lab missed our ACK): the same answer, one row, no second history line.
        history = hb.history.count()
        assert listener.send(valid) == [("AA", "accepted (already received)")]
        assert InboxMessage.objects.filter(control_id="LAB-1").count() == 1
        assert _item(surgery, "hemoglobin").history.count() == history

        # Unknown patient: AE with the reason, kept for the review queue.
        assert listener.send(hemoglobin(control="LAB-3", mrn="NO-SUCH-MRN"))[0][0] == "AE"
        assert InboxMessage.objects.get(control_id="LAB-3").status == MessageStatus.REVIEW

        # The demo's feed: the sample files (the demo clinic's MRNs are unknown here).
        out = io.StringIO()
        samples = sorted(str(p) for p in (ROOT / "devtools" / "samples" / "hl7").glob("*.hl7"))
        call_command("send_hl7", *samples, port=listener.port, stdout=out)
        lines = out.getvalue().splitlines()
        assert lines[0].startswith("01-hemoglobin-ok.hl7: AE unknown patient")
        assert lines[-1].startswith("05-malformed.hl7: AR malformed")


def _listener_process(clinic_slug: str, port: int) -> subprocess.Popen:
    # memory:// broker: the queued task lives in the listener's memory and dies with it, as a
    # task not yet handed to a worker would.
    env = subprocess_env(CELERY_BROKER_URL="memory://", DEBUG="1")
    proc = subprocess.Popen(
        [sys.executable, "manage.py", "hl7_listener", "--clinic", clinic_slug, "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0

    wait_for(listening, timeout=60, what="the hl7_listener process")
    return proc


def test_a_listener_killed_between_storing_and_processing_loses_nothing(book, clinic):
    surgery = book()
    port = free_port()
    proc = _listener_process(clinic.slug, port)
    try:
        acks = hl7feed.send("127.0.0.1", port, [hemoglobin(control="KILL-1", mrn=surgery.patient.mrn)])
        assert hl7feed.ack_code(acks[0])[0] == "AA"  # stored and committed before this answer
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(10)
    message = InboxMessage.objects.get(control_id="KILL-1")
    assert message.status == MessageStatus.RECEIVED, "stored, never processed: the process died first"
    assert _item(surgery, "hemoglobin").status == ItemStatus.OPEN

    proc = _listener_process(clinic.slug, port)  # the restart: its start-up sweep takes the row
    try:
        wait_for(lambda: _item(surgery, "hemoglobin").status == ItemStatus.DONE, timeout=60, what="the item done")
    finally:
        stop_process(proc)
    assert InboxMessage.objects.get(control_id="KILL-1").status == MessageStatus.PROCESSED
