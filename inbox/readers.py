"""Reading an incoming message into one shape, whatever its format (HL7 v2 ORU^R01, FHIR R4).

Pure functions: text in, :class:`MessageIn` out, or :class:`Malformed` naming what is wrong. No
database here; matching the patient and the item is the service's job.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass, field
from typing import Any

import hl7
from hl7.exceptions import HL7Exception

LOINC_SYSTEM = "http://loinc.org"
ACCEPTED_HL7 = ("ORU^R01",)


class Malformed(ValueError):
    """The message cannot be read; the text says why, for the ACK / OperationOutcome."""


@dataclass
class ResultIn:
    code: str  # LOINC
    display: str
    value: str  # as sent
    unit: str = ""
    observed_at: dt.datetime | None = None
    numeric: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "display": self.display,
            "value": self.value,
            "unit": self.unit,
            "observed_at": self.observed_at.isoformat() if self.observed_at else "",
        }


@dataclass
class DocumentIn:
    """A document that came with a report (FHIR ``presentedForm``, HL7 ``ED`` OBX): its bytes when
    sent inline, only noted when sent as a link (nothing is fetched)."""

    content_type: str
    title: str
    data: bytes | None = None
    url: bool = False
    size: int = 0

    def as_dict(self) -> dict[str, Any]:
        """What the message keeps (the bytes stay in the raw message, read again when needed)."""
        return {
            "content_type": self.content_type,
            "title": self.title,
            "size": self.size or (len(self.data) if self.data else 0),
            "url": self.url,
        }


@dataclass
class MessageIn:
    control_id: str | None
    source: str
    mrn: str = ""
    patient_uuid: str = ""  # a FHIR reference Patient/<uuid> to one of ours
    results: list[ResultIn] = field(default_factory=list)
    documents: list[DocumentIn] = field(default_factory=list)


# --- HL7 v2 ---------------------------------------------------------------------------------


def hl7_text(raw: str) -> str:
    """Segments separated by CR, as the standard says (files and some senders use LF or CRLF)."""
    return re.sub(r"\r\n|\n|\r", "\r", raw.strip()) + "\r"


def _hl7_time(value: str) -> dt.datetime | None:
    value = (value or "").strip()
    if not value:
        return None
    try:
        return hl7.parse_datetime(value)
    except (ValueError, TypeError):
        return None


def hl7_header(raw: str) -> tuple[hl7.Message | None, str | None, str]:
    """(parsed message or None, MSH-10, MSH-3^MSH-4): what can be read even from a bad message."""
    try:
        message = hl7.parse(hl7_text(raw))
        msh = message.segment("MSH")
    except (HL7Exception, KeyError, IndexError, ValueError):
        return None, None, ""
    control = str(msh(10)).strip() or None
    app, facility = str(msh(3)).strip(), str(msh(4)).strip()
    source = f"{app}^{facility}" if facility else app
    return message, control, source[:120]


def hl7_read(raw: str) -> MessageIn:
    """An ORU^R01 message's patient (PID-3) and results (OBX with a LOINC code)."""
    message, control, source = hl7_header(raw)
    if message is None:
        raise Malformed("malformed: not an HL7 v2 message (no readable MSH segment)")
    if not control:
        raise Malformed("malformed: MSH-10 (message control id) is empty")
    msh = message.segment("MSH")
    kind = "^".join(str(msh(9)).split("^")[:2])
    if kind not in ACCEPTED_HL7:
        raise Malformed(f"unsupported message type {kind or '(empty)'}: only ORU^R01 is accepted")
    try:
        pid = message.segment("PID")
    except KeyError:
        raise Malformed("malformed: no PID segment") from None
    mrn = str(pid(3)).split("~")[0].split("^")[0].strip()
    if not mrn:
        raise Malformed("malformed: PID-3 (medical record number) is empty")
    read = MessageIn(control_id=control, source=source, mrn=mrn)
    try:
        obr_time = _hl7_time(str(message.segment("OBR")(7)))
    except KeyError:
        obr_time = None
    try:
        observations = list(message.segments("OBX"))
    except KeyError:
        observations = []
    for obx in observations:
        coding = str(obx(3)).split("^")
        code, display = coding[0].strip(), (coding[1].strip() if len(coding) > 1 else "")
        system = coding[2].strip() if len(coding) > 2 else ""
        if system and system not in ("LN", "LOINC"):
            code = f"{system}:{code}"  # not a LOINC code: kept, and reported as unknown
        status = str(obx(11)).strip()
        if status in ("X", "D", "W"):  # cannot be obtained, deleted, wrong: not a result
            continue
        if str(obx(2)).strip() == "ED":
            read.documents.append(_hl7_document(str(obx(5)), title=display or "report"))
            continue
        read.results.append(
            ResultIn(
                code=code,
                display=display,
                value=str(obx(5)).replace("~", "; ").strip(),
                unit=str(obx(6)).split("^")[0].strip(),
                observed_at=_hl7_time(str(obx(14))) or obr_time,
                numeric=str(obx(2)).strip() in ("NM", "SN"),
            )
        )
    if not read.results:
        raise Malformed("malformed: no OBX result segment")
    return read


def _hl7_document(value: str, *, title: str) -> DocumentIn:
    """An ``ED`` value (source^type^subtype^encoding^data) as a document; only Base64 is read."""
    parts = value.split("^")
    parts += [""] * (5 - len(parts))
    kind, subtype, encoding = parts[1].strip().lower(), parts[2].strip().lower(), parts[3].strip().lower()
    content_type = f"{kind}/{subtype}" if kind and subtype else ""
    if encoding != "base64":
        raise Malformed(f"malformed: an ED document encoded as {encoding or '(none)'}; only Base64 is read")
    try:
        data = base64.b64decode("".join(parts[4].split()), validate=True)
    except (binascii.Error, ValueError):
        raise Malformed("malformed: an ED document's Base64 data cannot be decoded") from None
    return DocumentIn(content_type=content_type, title=title[:200], data=data or None)


def hl7_ack(raw: str, *, code: str, text: str, application: str = "PREOP") -> str:
    """The ACK for ``raw``: MSA-1 ``code``, MSA-3 the reason. Built by the hl7 library when the
    MSH can be read; otherwise a minimal ACK that still says AR and why."""
    message, control, _source = hl7_header(raw)
    text = re.sub(r"[|^~\\&\r\n]", " ", text)[:80]
    if message is not None:
        ack = message.create_ack(code, application=application)
        msa = ack.segment("MSA")
        msa.assign_field(text, 3)
        return str(ack)
    now = dt.datetime.now(dt.UTC).strftime("%Y%m%d%H%M%S")
    return f"MSH|^~\\&|{application}||||{now}||ACK|{now}|P|2.5.1\rMSA|{code}|{control or ''}|{text}\r"


# --- FHIR R4 --------------------------------------------------------------------------------


def _loinc(codeable: Any) -> tuple[str, str]:
    """(LOINC code, display) of a CodeableConcept, or ('system:code', display) when no LOINC coding."""
    codings = list(getattr(codeable, "coding", None) or [])
    for coding in codings:
        if coding.system == LOINC_SYSTEM and coding.code:
            return coding.code, coding.display or getattr(codeable, "text", "") or ""
    if codings and codings[0].code:
        return f"{codings[0].system or ''}:{codings[0].code}", codings[0].display or ""
    return "", getattr(codeable, "text", "") or ""


def _identifier(resource: Any) -> str | None:
    identifiers = getattr(resource, "identifier", None) or []
    for identifier in identifiers:
        if identifier.value:
            return f"{identifier.system or ''}|{identifier.value}"[:200]
    return None


def fhir_control_id(resource: Any, payload: dict[str, Any]) -> str:
    """The sender's identifier; without one, the resource's content (a resend of the same JSON is
    recognised, a changed one is a new message)."""
    found = _identifier(resource)
    if found:
        return found
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
    return f"sha256:{digest}"


def _subject(resource: Any) -> tuple[str, str]:
    """(MRN from subject.identifier, our patient uuid from subject.reference)."""
    subject = getattr(resource, "subject", None)
    if subject is None:
        raise Malformed("the resource has no subject (the patient)")
    mrn = (subject.identifier.value or "").strip() if subject.identifier else ""
    ref = (subject.reference or "").strip()
    uuid = ref.removeprefix("Patient/") if ref.startswith("Patient/") else ""
    if not mrn and not uuid:
        raise Malformed("subject must give the patient's MRN (subject.identifier) or Patient/<id>")
    return mrn, uuid


def _when(resource: Any) -> dt.datetime | None:
    for name in ("effectiveDateTime", "issued"):
        value = getattr(resource, name, None)
        if isinstance(value, dt.datetime):
            return value
        if isinstance(value, dt.date):
            return dt.datetime.combine(value, dt.time(12, 0))
    return None


def fhir_resource(payload: Any, *, allowed: tuple[str, ...]) -> Any:
    """The resource ``payload`` describes, validated by fhir.resources' R4B models, or Malformed."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    if not isinstance(payload, dict):
        raise Malformed("the body is not a FHIR resource (a JSON object)")
    kind = payload.get("resourceType")
    if kind not in allowed:
        raise Malformed(f"resourceType {kind!r} is not accepted here (expected {' or '.join(allowed)})")
    try:
        return get_fhir_model_class(kind).model_validate(payload)
    except ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        why = errors[0]["msg"] if errors else "invalid"
        raise Malformed(f"invalid {kind}: {where or kind}: {why}") from None


def fhir_observation_result(obs: Any) -> ResultIn:
    code, display = _loinc(obs.code)
    when = _when(obs)
    if obs.valueQuantity is not None:
        q = obs.valueQuantity
        value = "" if q.value is None else f"{q.value}"
        return ResultIn(
            code=code, display=display, value=value, unit=q.unit or q.code or "", observed_at=when, numeric=True
        )
    if obs.valueCodeableConcept is not None:
        concept = obs.valueCodeableConcept
        text = concept.text or next((c.display or c.code for c in concept.coding or [] if c.display or c.code), "")
        return ResultIn(code=code, display=display, value=text or "", observed_at=when)
    text = obs.valueString or ""
    return ResultIn(code=code, display=display, value=text, observed_at=when)


def fhir_observation_read(obs: Any, *, source: str, payload: dict[str, Any]) -> MessageIn:
    mrn, uuid = _subject(obs)
    read = MessageIn(control_id=fhir_control_id(obs, payload), source=source, mrn=mrn, patient_uuid=uuid)
    read.results.append(fhir_observation_result(obs))
    return read


def fhir_report_read(report: Any, *, source: str, payload: dict[str, Any]) -> MessageIn:
    """A DiagnosticReport: its conclusion is the result of its code (ECG, chest x-ray); contained
    Observations it lists in ``result`` are results too; ``presentedForm`` is noted as a document."""
    mrn, uuid = _subject(report)
    read = MessageIn(control_id=fhir_control_id(report, payload), source=source, mrn=mrn, patient_uuid=uuid)
    contained = {f"#{r.id}": r for r in (report.contained or []) if r.get_resource_type() == "Observation"}
    for ref in report.result or []:
        obs = contained.get(ref.reference or "")
        if obs is not None:
            read.results.append(fhir_observation_result(obs))
    code, display = _loinc(report.code)
    conclusion = (report.conclusion or "").strip()
    if conclusion:
        read.results.append(ResultIn(code=code, display=display, value=conclusion, observed_at=_when(report)))
    for attachment in report.presentedForm or []:
        read.documents.append(
            DocumentIn(
                content_type=attachment.contentType or "",
                title=(attachment.title or "")[:200],
                # fhir.resources decodes base64 ``data`` to bytes (bad base64 is Malformed above).
                data=attachment.data or None,
                url=bool(attachment.url),
                size=attachment.size or 0,
            )
        )
    if not read.results:
        raise Malformed("the DiagnosticReport has no conclusion and no contained Observation result")
    return read
