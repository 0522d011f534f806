"""Results in: messages per second through the HL7 listener into completed items, and the time from
each ACK to its item done, at 10,000 patients.

Seeds one clinic of ``seed_scale`` (10,000 patients by default) in a database of its own, picks
``--messages`` open hemoglobin items of booked surgeries (one per patient), and sends one valid
ORU^R01 for each over real MLLP (TCP on 127.0.0.1) to the product's listener (``inbox.listener``,
python-hl7's asyncio server, in a thread of this process) from ``--connections`` lab connections,
each waiting for its ACK before the next message, as labs do. The listener stores each message,
answers, and queues its processing on commit; the queue here is a ``queue.Queue`` read by
``--workers`` threads that run what the Celery task runs (``inbox.services.message_process``), so
the figure is the product's code without the broker's hop. It ends when every item is done.

    .venv/bin/python -m bench.inbox                                   # SQLite, var/bench-inbox.sqlite3
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/inbox .venv/bin/python -m bench.inbox
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import queue
import statistics
import threading
import time
from pathlib import Path

from asgiref.sync import sync_to_async


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
    import django
    from django.conf import settings

    django.setup()
    from bench.suite import use_own_database

    use_own_database(Path(settings.VAR_DIR) / "bench-inbox.sqlite3")


def _oru(control: str, mrn: str, stamp: str) -> str:
    return (
        f"MSH|^~\\&|LAB|BENCHLAB|PREOP|SCALE|{stamp}||ORU^R01^ORU_R01|{control}|P|2.5.1\r"
        f"PID|1||{mrn}^^^SCALE^MR||Bench^Patient||19600101|U\r"
        f"OBR|1||ORD-{control}|58410-2^CBC panel^LN|||{stamp}\r"
        f"OBX|1|NM|718-7^Hemoglobin^LN||13.1|g/dL|12-16|N|||F|||{stamp}\r"
    )


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--messages", type=int, default=1_000)
    parser.add_argument("--connections", type=int, default=2, help="lab connections sending at once")
    parser.add_argument("--workers", type=int, default=2, help="processing threads (the Celery workers' stand-in)")
    parser.add_argument("--rate", type=float, default=0, help="messages per second in all (0: as fast as ACKed)")
    parser.add_argument("--keep", action="store_true", help="keep (and reuse) the seeded database")
    args = parser.parse_args(argv)

    _setup_django()
    from django.db import close_old_connections, connection, connections
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases, teardown_test_environment
    from django.utils import timezone

    from bench.pages import seed_one_clinic
    from devtools import hl7feed
    from devtools.processes import free_port
    from inbox import services
    from inbox.listener import Listener
    from inbox.models import InboxMessage, MessageStatus
    from patients.models import Clinic, SurgeryStatus
    from prep.models import ChecklistItem, ItemStatus

    setup_test_environment()
    old = setup_databases(verbosity=0, interactive=False, keepdb=args.keep)
    try:
        seed_one_clinic(args.patients)
        clinic = Clinic.objects.get(slug="scale-1")
        InboxMessage.objects.all().delete()  # a kept database: start from an empty inbox
        now = timezone.now()
        # Open hemoglobin items whose surgery is booked within the result's 30-day validity, one per patient.
        rows = list(
            ChecklistItem.objects.filter(
                checklist__surgery__clinic=clinic,
                checklist__surgery__status=SurgeryStatus.BOOKED,
                checklist__surgery__start_at__gt=now,
                checklist__surgery__start_at__lt=now + dt.timedelta(days=29),
                code="hemoglobin",
                status=ItemStatus.OPEN,
            )
            .order_by("checklist__surgery__patient_id", "checklist__surgery__start_at")
            .values_list("pk", "checklist__surgery__patient__mrn")
        )
        chosen: dict[str, int] = {}
        for pk, mrn in rows:
            chosen.setdefault(mrn, pk)
        targets = list(chosen.items())[: args.messages]
        if len(targets) < args.messages:
            print(f"only {len(targets)} patients with an open hemoglobin item; sending that many")
        stamp = timezone.localtime(now, clinic.tz).strftime("%Y%m%d%H%M%S%z")
        messages = [(f"BENCH-{n:06d}", mrn) for n, (mrn, _pk) in enumerate(targets)]
        item_ids = [pk for _mrn, pk in targets]

        # The broker's stand-in and the workers.
        work: queue.Queue[int | None] = queue.Queue()
        errors: list[str] = []
        service_ms: list[float] = []
        committed_at: dict[int, dt.datetime] = {}

        def worker() -> None:
            while True:
                message_id = work.get()
                if message_id is None:
                    break
                try:
                    close_old_connections()
                    started = time.perf_counter()
                    services.message_process(message_id=message_id)
                    # Committed: the item is done for every reader from now on.
                    committed_at[message_id] = timezone.now()
                    service_ms.append((time.perf_counter() - started) * 1000)
                except Exception as exc:  # counted, the run fails
                    errors.append(repr(exc))
            connections.close_all()

        workers = [threading.Thread(target=worker, daemon=True) for _ in range(args.workers)]
        for thread in workers:
            thread.start()

        port = free_port()
        loop = asyncio.new_event_loop()
        listener = Listener(clinic=clinic, port=port, enqueue=work.put)
        listener_thread = threading.Thread(target=loop.run_forever, daemon=True)
        listener_thread.start()
        asyncio.run_coroutine_threadsafe(listener.start(), loop).result(60)

        acked_at: dict[str, dt.datetime] = {}
        ack_codes: list[str] = []

        async def lab(share: list[tuple[str, str]]) -> None:
            reader, writer = await hl7feed.open_hl7_connection("127.0.0.1", port)
            interval = args.connections / args.rate if args.rate else 0.0
            try:
                for control, mrn in share:
                    if interval:
                        await asyncio.sleep(interval)
                    writer.writeblock(_oru(control, mrn, stamp).encode())
                    await writer.drain()
                    ack = (await reader.readblock()).decode()
                    acked_at[control] = timezone.now()
                    ack_codes.append(hl7feed.ack_code(ack)[0])
            finally:
                writer.close()

        async def labs() -> None:
            shares = [messages[i :: args.connections] for i in range(args.connections)]
            await asyncio.gather(*(lab(share) for share in shares if share))

        began = time.perf_counter()
        asyncio.run(labs())
        sent_s = time.perf_counter() - began
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            done = ChecklistItem.objects.filter(pk__in=item_ids, status=ItemStatus.DONE).count()
            if done == len(item_ids) or errors:
                break
            time.sleep(0.05)
        total_s = time.perf_counter() - began
        for _ in workers:
            work.put(None)
        for thread in workers:
            thread.join(30)

        async def close() -> None:
            assert listener.server is not None
            listener.server.close()
            # The listener's database thread: its connection closed, or the database cannot be dropped.
            await sync_to_async(connections.close_all, thread_sensitive=True)()

        asyncio.run_coroutine_threadsafe(close(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)

        completed = dict(
            ChecklistItem.objects.filter(pk__in=item_ids, status=ItemStatus.DONE).values_list("pk", "completed_at")
        )
        # From the ACK's arrival at the lab to the commit of the processing that completed the item.
        controls = dict(InboxMessage.objects.values_list("pk", "control_id"))
        latencies = [
            (at - acked_at[controls[pk]]).total_seconds() * 1000
            for pk, at in committed_at.items()
            if controls.get(pk) in acked_at
        ]
        statuses = dict.fromkeys(MessageStatus.values, 0)
        for status in InboxMessage.objects.values_list("status", flat=True):
            statuses[status] += 1
        load = os.getloadavg()
        print(
            f"bench.inbox on {connection.vendor}, {args.patients:,} patients, {len(messages):,} messages, "
            f"{args.connections} connections, {args.workers} workers; "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
        )
        print(f"ACKs: {ack_codes.count('AA')} AA of {len(ack_codes)}; inbox: {statuses}")
        print(f"stored and acknowledged: {len(messages) / sent_s:.0f} messages/s ({sent_s:.1f} s)")
        rate = len(completed) / total_s
        print(f"through to completed items: {len(completed)} of {len(item_ids)} in {total_s:.1f} s = {rate:.0f}/s")
        if service_ms:
            print(
                f"processing one message (the task's work): median {statistics.median(service_ms):.0f} ms, "
                f"p95 {_pct(service_ms, 0.95):.0f} ms"
            )
        if latencies:
            print(
                f"ACK -> item done (committed): median {statistics.median(latencies):.0f} ms, "
                f"p95 {_pct(latencies, 0.95):.0f} ms, max {max(latencies):.0f} ms"
            )
        ok = not errors and len(completed) == len(item_ids) and ack_codes.count("AA") == len(messages)
        if errors:
            print(f"errors: {len(errors)}, first: {errors[0]}")
        return 0 if ok else 1
    finally:
        if not args.keep:
            teardown_databases(old, verbosity=0)
        teardown_test_environment()


if __name__ == "__main__":
    raise SystemExit(main())
