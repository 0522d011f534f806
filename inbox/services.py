"""Writes on the results inbox: store a message, process it into checklist items, the review queue.

Storing comes first and alone (one short transaction): the sender gets its answer only once the
message is in the database. Processing reads the stored row, is idempotent (a row already
processed is left alone, under a row lock) and completes items through the same action a nurse
uses (``actions.items.item_complete``), so the history, the readiness summary and the reminder
plan follow. Anything that does not fit goes to the review queue with the reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from accounts import permissions as perms
from accounts.models import User
from actions import items as item_actions
from audit.services import access_log_record
from documents.content import content_check
from documents.services import document_attach
from inbox import codes, readers
from inbox.models import InboxMessage, MessageKind, MessageStatus
from patients.models import ACTIVE_SURGERY_STATUSES, Clinic, Patient
from prep.models import ChecklistItem, ChecklistStatus, ClinicTestPolicy, ItemStatus, ResultKind, TemplateItem
from prep.results import result_check, result_clean
from prep.services import ItemConflict

logger = logging.getLogger(__name__)

Enqueue = Callable[[int], None]
TEXT_MAX = 200  # what an item's result holds (prep.results); the whole report stays in the inbox


def _enqueue_task(message_id: int) -> None:
    from inbox.tasks import process_message  # the task module imports this one

    try:
        process_message.delay(message_id)
    except Exception:
        # The broker is down: the row is stored and the sweep (beat, listener start) takes it.
        logger.warning("inbox: processing not queued (broker unreachable); the sweep will take it")


def _after_commit(message: InboxMessage, enqueue: Enqueue | None) -> None:
    run = enqueue or _enqueue_task
    message_id = message.pk
    transaction.on_commit(lambda: run(message_id))


def _count_changed(clinic_id: int) -> None:
    """The review queue's count on the board is cached (inbox.selectors): forget it after the commit."""
    from django.core.cache import cache

    from inbox.selectors import count_key

    transaction.on_commit(lambda: cache.delete(count_key(clinic_id)))


# --- Senders ----------------------------------------------------------------------------------


def source_user(*, clinic: Clinic, source: str) -> User:
    """The service user an HL7 source's results are recorded under (one per clinic and source).

    Role ``system`` as an API token's user: it acts as a nurse does on nurse items, can never sign
    in (no usable password), and its name says where the results came from.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", source.lower()).strip("-")[:40] or "unnamed"
    email = f"hl7-{slug}@{clinic.slug}.inbox.invalid"
    user = get_user_model().objects.filter(email=email).first()
    if user is None:
        user = get_user_model().objects.create_user(
            email=email, password=None, clinic=clinic, role=perms.SYSTEM, first_name="HL7", last_name=source[:150]
        )
    return user


# --- Storing ------------------------------------------------------------------------------------


@dataclass
class Receipt:
    message: InboxMessage
    created: bool
    ack_code: str  # AA, AE, AR (FHIR answers map them to 201, 422, 400)
    text: str


def _known_codes() -> set[str]:
    loincs = set(TemplateItem.objects.exclude(loinc="").values_list("loinc", flat=True).distinct())
    return loincs | set(codes.codes().parts)


def _precheck(*, clinic: Clinic, read: readers.MessageIn) -> tuple[str, str]:
    """The answer the sender gets at once: (AA, 'accepted') or (AE, unknown patient / unknown code).

    Processing decides the rest (ranges, items, dates); these two the sender can act on.
    """
    if _patient_find(clinic=clinic, read=read) is None:
        return "AE", "unknown patient: no patient with this MRN in the clinic"
    unknown = sorted({r.code for r in read.results} - _known_codes())
    if unknown:
        return "AE", f"unknown code {', '.join(unknown)[:60]}: not a result the checklist asks for"
    return "AA", "accepted"


def _store(
    *,
    clinic: Clinic,
    kind: str,
    source: str,
    control_id: str | None,
    raw: str,
    sender: User | None,
    status: str,
    outcome: str,
    ack_code: str,
    sent_patient: str = "",
) -> tuple[InboxMessage, bool]:
    """Insert the message, or find it when the same sender sent the same id before."""
    if control_id is not None:
        found = InboxMessage.objects.filter(clinic=clinic, source=source, control_id=control_id).first()
        if found is not None:
            return found, False
    try:
        with transaction.atomic():
            message = InboxMessage.objects.create(
                clinic=clinic,
                kind=kind,
                source=source[:120],
                control_id=control_id,
                raw=raw,
                sender=sender,
                status=status,
                outcome=outcome,
                ack_code=ack_code,
                sent_patient=sent_patient[:80],
            )
    except IntegrityError:
        # The same message arrived twice at the same moment (two connections): the first one won.
        return InboxMessage.objects.get(clinic=clinic, source=source, control_id=control_id), False
    return message, True


def _resent(message: InboxMessage) -> Receipt:
    """A resend: the first answer again (AE keeps its reason), and nothing else (no second processing)."""
    code = message.ack_code or "AA"
    text = "accepted (already received)" if code == "AA" else (message.outcome or "already received")
    return Receipt(message, False, code, text)


@transaction.atomic
def hl7_receive(*, clinic: Clinic, raw: str, peer: str = "", enqueue: Enqueue | None = None) -> Receipt:
    """Store an HL7 v2 message as received over MLLP; the ACK to send follows from the receipt.

    Malformed: stored as rejected (AR, with the reason), never processed. Otherwise stored as
    received and queued for processing after the commit, even when the answer is AE (unknown
    patient or code): processing puts it in the review queue, where a nurse can match it.
    """
    try:
        read = readers.hl7_read(raw)
    except readers.Malformed as exc:
        _msg, control, source = readers.hl7_header(raw)
        message, created = _store(
            clinic=clinic,
            kind=MessageKind.HL7,
            source=source or f"mllp {peer}".strip(),
            control_id=control,
            raw=raw,
            sender=None,
            status=MessageStatus.REJECTED,
            outcome=str(exc),
            ack_code="AR",
        )
        return Receipt(message, created, message.ack_code or "AR", message.outcome or str(exc))
    sender = source_user(clinic=clinic, source=read.source)
    return _receive(clinic=clinic, kind=MessageKind.HL7, read=read, raw=raw, sender=sender, enqueue=enqueue)


@transaction.atomic
def fhir_receive(
    *, clinic: Clinic, read: readers.MessageIn, raw: str, sender: User, enqueue: Enqueue | None = None
) -> Receipt:
    """Store a FHIR resource (already validated by ``readers``) and queue it for processing."""
    return _receive(clinic=clinic, kind=MessageKind.FHIR, read=read, raw=raw, sender=sender, enqueue=enqueue)


def _receive(
    *, clinic: Clinic, kind: str, read: readers.MessageIn, raw: str, sender: User | None, enqueue: Enqueue | None
) -> Receipt:
    """Store a message that could be read, answered AA or AE, and queue it once its row commits
    (a resend is answered as the first one was and queued again by nothing)."""
    code, text = _precheck(clinic=clinic, read=read)
    message, created = _store(
        clinic=clinic,
        kind=kind,
        source=read.source,
        control_id=read.control_id,
        raw=raw,
        sender=sender,
        status=MessageStatus.RECEIVED,
        outcome="" if code == "AA" else text,
        ack_code=code,
        sent_patient=read.mrn or read.patient_uuid,
    )
    if created:
        _after_commit(message, enqueue)
        return Receipt(message, True, code, text)
    return _resent(message)


FHIR_RESULTS = ("Observation", "DiagnosticReport")


def _fhir_read(payload: Any, *, source: str, allowed: tuple[str, ...]) -> readers.MessageIn:
    resource = readers.fhir_resource(payload, allowed=allowed)
    if payload["resourceType"] == "Observation":
        return readers.fhir_observation_read(resource, source=source, payload=payload)
    return readers.fhir_report_read(resource, source=source, payload=payload)


def _fhir_reject(*, clinic: Clinic, source: str, raw: str, sender: User, reason: str) -> None:
    # Kept for the record (what the client sent and why it was refused); never processed.
    _store(
        clinic=clinic,
        kind=MessageKind.FHIR,
        source=source,
        control_id=None,
        raw=raw[:1_000_000],
        sender=sender,
        status=MessageStatus.REJECTED,
        outcome=reason,
        ack_code="AR",
    )


@dataclass
class FhirPosted:
    receipts: list[Receipt]
    error: str = ""  # malformed: the body was stored as rejected, nothing else


def fhir_post(
    *, clinic: Clinic, sender: User, source: str, text: str, allowed: tuple[str, ...], enqueue: Enqueue | None = None
) -> FhirPosted:
    """A FHIR POST body: one resource of ``allowed``, or a transaction Bundle of them (``allowed``
    holding "Bundle"). Each resource becomes its own inbox message, all in one transaction. An
    unreadable body is stored as rejected and reported in ``error`` (the caller answers 400): a
    Bundle is all or nothing."""
    try:
        resources = _fhir_resources(text, source=source, allowed=allowed)
    except readers.Malformed as exc:
        _fhir_reject(clinic=clinic, source=source, raw=text, sender=sender, reason=str(exc))
        return FhirPosted([], str(exc))
    with transaction.atomic():
        receipts = [
            fhir_receive(clinic=clinic, read=read, raw=json.dumps(resource), sender=sender, enqueue=enqueue)
            for resource, read in resources
        ]
    return FhirPosted(receipts)


def _fhir_resources(text: str, *, source: str, allowed: tuple[str, ...]) -> list[tuple[Any, readers.MessageIn]]:
    try:
        payload = json.loads(text)
    except ValueError:
        raise readers.Malformed("malformed: the body is not JSON") from None
    if not (isinstance(payload, dict) and payload.get("resourceType") == "Bundle" and "Bundle" in allowed):
        return [(payload, _fhir_read(payload, source=source, allowed=tuple(a for a in allowed if a != "Bundle")))]
    readers.fhir_resource(payload, allowed=("Bundle",))
    if payload.get("type") not in ("transaction", "batch"):
        raise readers.Malformed("only a transaction (or batch) Bundle is accepted")
    resources = []
    for n, entry in enumerate(payload.get("entry") or []):
        resource = entry.get("resource")
        method = (entry.get("request") or {}).get("method") or "POST"
        if method != "POST":
            raise readers.Malformed(f"entry {n}: only POST (create) is accepted, not {method}")
        try:
            resources.append((resource, _fhir_read(resource, source=source, allowed=FHIR_RESULTS)))
        except readers.Malformed as exc:
            raise readers.Malformed(f"entry {n}: {exc}") from None
    if not resources:
        raise readers.Malformed("the Bundle has no entry")
    return resources


def pending_ids(*, limit: int = 500) -> list[int]:
    """Stored and never processed (a listener or worker died, the broker was down): the sweep's work."""
    return list(
        InboxMessage.objects.filter(status=MessageStatus.RECEIVED).order_by("id").values_list("pk", flat=True)[:limit]
    )


# --- Processing ---------------------------------------------------------------------------------


def _patient_find(*, clinic: Clinic, read: readers.MessageIn) -> Patient | None:
    patients = Patient.objects.filter(clinic=clinic)
    if read.patient_uuid:
        try:
            return patients.filter(uuid=read.patient_uuid).first()
        except ValidationError:
            return None
    if read.mrn:
        return patients.filter(mrn=read.mrn).first()
    return None


def _read(message: InboxMessage) -> readers.MessageIn:
    if message.kind == MessageKind.HL7:
        return readers.hl7_read(message.raw)
    return _fhir_read(json.loads(message.raw), source=message.source, allowed=FHIR_RESULTS)


def _combine_parts(results: list[readers.ResultIn]) -> tuple[list[readers.ResultIn], list[dict[str, Any]]]:
    """Part-codes joined to their whole (the Rh type to the ABO group: 'A' + 'Positive' -> 'A+')."""
    parts = codes.codes().parts
    wholes = {r.code: r for r in results if r.code not in parts}
    kept, notes = [], []
    for result in results:
        whole_code = parts.get(result.code)
        if whole_code is None:
            kept.append(result)
            continue
        whole = wholes.get(whole_code)
        sign = codes.rh_sign(result.value)
        entry = {**result.as_dict(), "status": "combined", "reason": f"joined to {whole_code}"}
        if whole is None or not sign:
            entry.update(status="review", reason=f"an Rh type without its ABO group ({whole_code}) or unreadable")
        else:
            abo = re.sub(r"[^ABO]", "", whole.value.upper().replace("POS", "").replace("NEG", ""))
            whole.value = f"{abo}{sign}"
        notes.append(entry)
    return kept, notes


def _validity_days(item: ChecklistItem, clinic: Clinic) -> int | None:
    policy = ClinicTestPolicy.objects.filter(clinic=clinic, code=item.code).values_list("validity_days", flat=True)
    found = list(policy)
    if found and found[0] is not None:
        return found[0]
    return item.template_item.validity_days if item.template_item else None


def _value_for(item: ChecklistItem, result: readers.ResultIn, *, today: dt.date) -> str:
    """The result as the item keeps it (converted to its unit), or ValidationError with the reason."""
    ti = item.template_item
    kind = ti.result_kind if ti else ResultKind.NONE
    raw = result.value.strip()
    if kind == ResultKind.NUMBER and ti is not None:
        try:
            number = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            raise ValidationError(f"{raw!r} is not a number") from None
        try:
            number = codes.convert(code=result.code, value=number, unit=result.unit, to=ti.result_unit)
        except codes.UnitError as exc:
            raise ValidationError(str(exc)) from None
        raw = f"{number.quantize(Decimal('0.01')).normalize():f}"
    elif kind in (ResultKind.TEXT,) and len(raw) > TEXT_MAX:
        raw = raw[: TEXT_MAX - 1] + "…"
    elif kind == ResultKind.CHOICE:
        raw = raw.upper().replace(" ", "")
    return result_clean(ti, raw, today=today)


def _apply(
    *, message: InboxMessage, patient: Patient, result: readers.ResultIn, by: User, received_from: str
) -> dict[str, Any]:
    """Complete the open item this result belongs to, or say why it waits for a nurse."""
    entry: dict[str, Any] = {**result.as_dict(), "status": "review", "reason": "", "item": ""}
    clinic = message.clinic
    if not TemplateItem.objects.filter(loinc=result.code).exists():
        entry["reason"] = f"unknown code {result.code or '(none)'}: not a result the checklist asks for"
        return entry
    candidates = list(
        ChecklistItem.objects.filter(
            checklist__surgery__patient=patient,
            checklist__surgery__status__in=ACTIVE_SURGERY_STATUSES,
            checklist__status=ChecklistStatus.ACTIVE,
            template_item__loinc=result.code,
        )
        .select_related("template_item", "checklist__surgery__patient__clinic")
        .order_by("checklist__surgery__start_at")
    )
    open_items = [i for i in candidates if i.status == ItemStatus.OPEN and not i.locked]
    if not open_items:
        entry["reason"] = (
            "no open item: already done" if candidates else "no open item: no booked surgery asks for this result"
        )
        return entry
    tz = clinic.tz
    today = timezone.localdate(timezone.now(), tz)
    observed = result.observed_at or message.received_at or timezone.now()
    if timezone.is_naive(observed):
        observed = timezone.make_aware(observed, tz)  # HL7 times without an offset are the lab's local time
    day = timezone.localtime(observed, tz).date()
    entry["observed_at"] = observed.isoformat()
    if day > today:
        entry["reason"] = f"the result date {day.isoformat()} is in the future"
        return entry
    reasons = []
    for item in open_items:
        surgery_day = timezone.localtime(item.checklist.surgery.start_at, tz).date()
        validity = _validity_days(item, clinic)
        if day > surgery_day:
            reasons.append(f"the result of {day.isoformat()} is after the surgery on {surgery_day.isoformat()}")
            continue
        if validity and day < surgery_day - dt.timedelta(days=validity):
            reasons.append(
                f"the result of {day.isoformat()} is older than {validity} days before the surgery "
                f"on {surgery_day.isoformat()}"
            )
            continue
        entry["item"] = str(item.uuid)
        entry["item_title"] = item.title
        try:
            value = _value_for(item, result, today=today)
        except ValidationError as exc:
            entry["reason"] = "; ".join(exc.messages)
            return entry
        entry["value_kept"] = value
        keep_open, alert = result_check(item.template_item, value)
        if keep_open or alert:
            # Outside the clinic's limits: a nurse looks at it before anything is recorded.
            entry["reason"] = keep_open or alert
            return entry
        try:
            item_actions.item_complete(item=item, by=by, result=value, result_date=day, received_from=received_from)
        except (ItemConflict, ValidationError, PermissionDenied) as exc:
            entry["reason"] = str(getattr(exc, "messages", [exc])[0])
            return entry
        entry.update(status="done", reason="")
        return entry
    entry["reason"] = "; ".join(reasons)
    return entry


class DocumentRefused(Exception):
    """A document that came with the message failed the documents' checks: the reason, for the queue."""


def _refusal(exc: ValidationError) -> str:
    return f"attached document refused: {'; '.join(exc.messages)}"[:500]


def _documents_check(documents: list[readers.DocumentIn]) -> str:
    """The first inline document the documents' checks refuse, as the queue's reason; "" if none.

    Checked before any result is applied or any file is written, so a refused document leaves
    nothing behind (no completed item, no stored file).
    """
    for doc in documents:
        if doc.data is None:
            continue
        try:
            content_check(
                doc.data,
                filename=doc.title or "report",
                declared_type=doc.content_type,
                limit=settings.DOCUMENTS_MAX_BYTES,
            )
        except ValidationError as exc:
            return _refusal(exc)
    return ""


def _documents_noted(documents: list[readers.DocumentIn], *, refused: str = "") -> list[dict[str, Any]]:
    """The message's note of each document before any is attached: what the nurse sees in the queue."""
    noted = []
    for doc in documents:
        entry = {**doc.as_dict(), "attached": []}
        if doc.data is None:
            # A link is never fetched (no traffic leaves the server); the nurse asks the sender.
            entry.update(status="link" if doc.url else "empty", reason="sent as a link: not fetched")
            if not doc.url:
                entry["reason"] = "sent without data: nothing to store"
        elif refused:
            entry.update(status="refused", reason=refused)
        else:
            entry.update(status="waiting", reason="not attached: waiting for review")
        noted.append(entry)
    return noted


def _documents_attach(
    *, message: InboxMessage, documents: list[readers.DocumentIn], noted: list[dict[str, Any]], item_uuids: list[str]
) -> None:
    """Attach each inline document to each item the message's results completed (``noted`` updated).

    ``document_attach`` keeps the same bytes on the same item once, so a message processed again
    (a nurse's match) attaches nothing twice. Raises ``DocumentRefused``: the caller undoes the rest.
    """
    if not item_uuids:
        return
    # Scoped to the message's clinic: the system caller (user None) is trusted to have done so.
    items = list(
        ChecklistItem.objects.filter(uuid__in=item_uuids, checklist__surgery__clinic_id=message.clinic_id).order_by(
            "pk"
        )
    )
    source = f"received from {message.source}"
    for doc, entry in zip(documents, noted, strict=True):
        if doc.data is None or entry.get("status") == "refused":
            continue
        for item in items:
            try:
                document = document_attach(
                    item=item,
                    content=doc.data,
                    filename=doc.title or "report",
                    declared_type=doc.content_type,
                    source=source,
                )
            except ValidationError as exc:
                raise DocumentRefused(_refusal(exc)) from None
            attached = entry.setdefault("attached", [])  # notes written before documents were stored have none
            if str(document.uuid) not in {a["document"] for a in attached}:
                attached.append({"document": str(document.uuid), "item": str(item.uuid), "title": item.title})
        entry.update(status="attached", reason="")


def _completed_items(entries: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(e["item"] for e in entries if e.get("status") in ("done", "recorded") and e.get("item")))


@transaction.atomic
def message_process(*, message_id: int) -> InboxMessage:
    """Process a stored message once: a message not in ``received`` is returned unchanged."""
    message = InboxMessage.objects.select_for_update(of=("self",)).select_related("clinic", "sender").get(pk=message_id)
    if message.status != MessageStatus.RECEIVED:
        return message
    try:
        read = _read(message)
    except (readers.Malformed, ValueError) as exc:
        message.status, message.outcome = MessageStatus.REJECTED, str(exc)[:1000]
        message.processed_at = timezone.now()
        message.save(update_fields=["status", "outcome", "processed_at"])
        return message
    refused = _documents_check(read.documents)
    documents = _documents_noted(read.documents, refused=refused)
    results, notes = _combine_parts(read.results)
    patient = message.patient or _patient_find(clinic=message.clinic, read=read)
    done_before = {
        (e.get("code"), e.get("value")): e for e in (message.results or []) if e.get("status") in ("done", "recorded")
    }
    entries: list[dict[str, Any]] = []
    if patient is None or refused:
        reason = refused or "unknown patient: no patient with this MRN in the clinic"
        for result in results:
            earlier = done_before.get((result.code, result.value))
            entries.append(earlier or {**result.as_dict(), "status": "review", "reason": reason, "item": ""})
        if patient is not None:
            message.patient = patient
    else:
        message.patient = patient
        by = message.sender
        if by is None:
            by = source_user(clinic=message.clinic, source=message.source)
        try:
            # One savepoint for the results and their documents: a document refused at attach time
            # (the checklist was closed meanwhile) undoes the completions too.
            with transaction.atomic():
                for result in results:
                    earlier = done_before.get((result.code, result.value))
                    if earlier is not None:
                        entries.append(earlier)  # completed before a nurse matched the rest: never twice
                        continue
                    entries.append(
                        _apply(message=message, patient=patient, result=result, by=by, received_from=message.source)
                    )
                _documents_attach(
                    message=message, documents=read.documents, noted=documents, item_uuids=_completed_items(entries)
                )
        except DocumentRefused as exc:
            reason = str(exc)
            entries = [
                done_before.get((r.code, r.value)) or {**r.as_dict(), "status": "review", "reason": reason, "item": ""}
                for r in results
            ]
            documents = _documents_noted(read.documents, refused=reason)
    message.documents = documents
    entries += notes
    message.results = entries
    waiting = [e["reason"] for e in entries if e["status"] == "review"]
    # A refused document keeps the message in the queue even when every result was done before.
    waiting += [d["reason"] for d in documents if d["status"] == "refused"]
    message.status = MessageStatus.REVIEW if waiting else MessageStatus.PROCESSED
    message.outcome = "; ".join(dict.fromkeys(waiting))[:1000]
    message.processed_at = timezone.now()
    message.save(update_fields=["status", "outcome", "processed_at", "patient", "results", "documents"])
    _count_changed(message.clinic_id)
    access_log_record(
        request=None,
        action=f"inbox {message.kind} {message.status}: received from {message.source}",
        allowed=True,
        user=message.sender,
        role=perms.SYSTEM,
        clinic_id=message.clinic_id,
        patient_id=message.patient_id,
        patients_count=1 if message.patient_id else 0,
        path=f"/inbox/{message.uuid}",
    )
    return message


# --- The review queue ---------------------------------------------------------------------------


def _locked_for(*, message: InboxMessage, by: User) -> InboxMessage:
    """The message, locked, if ``by`` is active staff of its clinic; a 404 otherwise (not even its existence)."""
    if not by.is_authenticated or not by.is_active or by.clinic_id is None or by.role == perms.SYSTEM:
        raise Http404("No such message.")
    fresh = (
        InboxMessage.objects.select_for_update(of=("self",))
        .select_related("clinic", "patient")
        .filter(pk=message.pk)
        .first()
    )
    if fresh is None or fresh.clinic_id != by.clinic_id:
        raise Http404("No such message.")
    return fresh


def _handled(message: InboxMessage, by: User, fields: list[str]) -> None:
    message.handled_by, message.handled_at = by, timezone.now()
    message.save(update_fields=[*fields, "handled_by", "handled_at"])
    _count_changed(message.clinic_id)


def _review_log(*, message: InboxMessage, by: User, what: str) -> None:
    access_log_record(
        request=None,
        action=f"inbox review: {what}",
        allowed=True,
        user=by,
        clinic_id=message.clinic_id,
        patient_id=message.patient_id,
        patients_count=1 if message.patient_id else 0,
        path=f"/inbox/{message.uuid}",
    )


@transaction.atomic
def review_dismiss(*, message: InboxMessage, by: User, reason: str) -> InboxMessage:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Say why this message is dismissed."})
    message = _locked_for(message=message, by=by)
    if message.status not in (MessageStatus.REVIEW, MessageStatus.REJECTED):
        raise ValidationError("Only a message waiting for review can be dismissed.")
    message.status, message.dismiss_reason = MessageStatus.DISMISSED, reason[:300]
    _handled(message, by, ["status", "dismiss_reason"])
    _review_log(message=message, by=by, what="dismissed")
    return message


@transaction.atomic
def review_match(*, message: InboxMessage, by: User, patient: Patient) -> InboxMessage:
    """A nurse says whose result it is: processed again for that patient (results done stay done)."""
    message = _locked_for(message=message, by=by)
    if patient.clinic_id != message.clinic_id:
        raise Http404("No such patient.")
    if message.status != MessageStatus.REVIEW:
        raise ValidationError("Only a message waiting for review can be matched.")
    message.patient, message.status = patient, MessageStatus.RECEIVED
    _handled(message, by, ["patient", "status"])
    _review_log(message=message, by=by, what="matched to a patient")
    return message_process(message_id=message.pk)


@transaction.atomic
def review_complete(*, message: InboxMessage, by: User, index: int, item: ChecklistItem) -> InboxMessage:
    """A nurse records result ``index`` on ``item`` (the nurse's own tick: out-of-range values are
    recorded and keep the item open, as when typed)."""
    message = _locked_for(message=message, by=by)
    if message.status != MessageStatus.REVIEW:
        raise ValidationError("Only a message waiting for review can be completed.")
    entries = list(message.results or [])
    if not 0 <= index < len(entries) or entries[index].get("status") != "review":
        raise ValidationError("This result is not waiting for review.")
    found = (
        ChecklistItem.objects.select_related("template_item", "checklist__surgery__patient__clinic")
        .filter(pk=item.pk, checklist__surgery__clinic_id=message.clinic_id)
        .first()
    )
    if found is None:
        raise Http404("No such item.")
    item = found
    entry = dict(entries[index])
    result = readers.ResultIn(
        code=entry.get("code", ""),
        display=entry.get("display", ""),
        value=entry.get("value", ""),
        unit=entry.get("unit", ""),
    )
    tz = message.clinic.tz
    today = timezone.localdate(timezone.now(), tz)
    observed = dt.datetime.fromisoformat(entry["observed_at"]) if entry.get("observed_at") else None
    day = min(timezone.localtime(observed, tz).date(), today) if observed and timezone.is_aware(observed) else today
    value = _value_for(item, result, today=today)
    item = item_actions.item_complete(
        item=item, by=by, result=value, result_date=day, received_from=f"{message.source}, reviewed"
    )
    entry.update(
        status="done" if item.status == ItemStatus.DONE else "recorded",
        reason=item.result_flag,
        item=str(item.uuid),
        item_title=item.title,
        value_kept=value,
    )
    entries[index] = entry
    message.results = entries
    message.documents = _documents_for_reviewed(message=message, item=item)
    message.patient = message.patient or item.checklist.surgery.patient
    if not any(e.get("status") == "review" for e in entries):
        message.status = MessageStatus.PROCESSED
    _handled(message, by, ["results", "documents", "patient", "status"])
    _review_log(message=message, by=by, what="result recorded on an item")
    return message


def _documents_for_reviewed(*, message: InboxMessage, item: ChecklistItem) -> list[dict[str, Any]]:
    """The message's documents attached to the item a nurse recorded a result on (read again from the
    raw message; a refused one stays refused). A refusal now undoes the nurse's record too."""
    noted = [dict(d) for d in message.documents or []]
    if not any(d.get("status") in ("waiting", "attached", None) for d in noted):
        return noted
    documents = _read(message).documents
    if len(documents) != len(noted):
        return noted  # the note does not describe this raw message: leave it as it is
    try:
        _documents_attach(message=message, documents=documents, noted=noted, item_uuids=[str(item.uuid)])
    except DocumentRefused as exc:
        raise ValidationError(str(exc)) from None
    return noted
