"""FHIR R4 resources built from the domain, as plain dicts (JSON-ready).

The mapping follows Medplum's reading of "a PlanDefinition applied to a patient": the checklist
template is a PlanDefinition; a patient's checklist is a CarePlan that instantiates it, with one
Task per item (``basedOn`` the CarePlan, ``for`` the Patient). The surgery is a ServiceRequest
(what) and an Appointment (when). Results with a LOINC code are Observations; blood thinners
are MedicationStatements.

Every resource's ``id`` is the record's UUID, or a UUID derived from it (uuid5) for resources
that have no row of their own (Appointment, Observation); the Bundle's ``fullUrl`` is
``urn:uuid:<id>`` and every reference points at a ``fullUrl`` inside the Bundle.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import uuid as uuid_lib
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.utils import timezone

from accounts.models import User
from patients.models import Clinic, Guardian, Medication, Patient, Surgery, SurgeryStatus
from prep import conditions
from prep.models import Checklist, ChecklistItem, ChecklistStatus, ChecklistTemplate, ItemStatus, TemplateItem

Json = dict[str, Any]

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
LOINC_DISPLAY = {
    "718-7": "Hemoglobin [Mass/volume] in Blood",
    "883-9": "ABO group [Type] in Blood",
    "10331-7": "Rh [Type] in Blood",
    "6301-6": "INR in Platelet poor plasma by Coagulation assay",
    "24356-8": "Urinalysis complete panel - Urine",
    "11524-6": "EKG study",
    "36643-5": "XR Chest 2 Views",
}
# Result units as UCUM codes; the INR is a ratio without a unit ({INR} is UCUM's annotation for it).
UCUM_CODES = {"g/dL": "g/dL", "INR": "{INR}"}

TASK_STATUS: dict[str, str] = {
    ItemStatus.DONE: "completed",
    ItemStatus.ACCEPTED: "completed",
    ItemStatus.NOT_APPLICABLE: "cancelled",
    ItemStatus.PATIENT_CONFIRMED: "in-progress",
}
SERVICE_REQUEST_STATUS: dict[str, str] = {
    SurgeryStatus.BOOKED: "active",
    SurgeryStatus.POSTPONED: "on-hold",
    SurgeryStatus.CANCELLED: "revoked",
    SurgeryStatus.DONE: "completed",
}
APPOINTMENT_STATUS: dict[str, str] = {
    SurgeryStatus.BOOKED: "booked",
    SurgeryStatus.POSTPONED: "pending",
    SurgeryStatus.CANCELLED: "cancelled",
    SurgeryStatus.DONE: "fulfilled",
}
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
# The booking records only the start; FHIR wants an end with it, so the Appointment says so.
NOMINAL_SLOT = dt.timedelta(hours=1)


# When what this server offers last changed (CapabilityStatement.date).
CAPABILITIES_CHANGED = "2026-12-02"


def capability_statement_build() -> Json:
    """``GET /fhir/metadata``: what this server offers, for FHIR clients that ask before they call.

    It holds no patient data, so it is public, as the FHIR specification expects of it.
    """
    base = base_url()
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CAPABILITIES_CHANGED,
        "publisher": "Pre-op Tracker",
        "kind": "instance",
        "software": {"name": "Pre-op Tracker"},
        "implementation": {
            "description": "Pre-operative preparation: catalogue and per-patient export",
            "url": f"{base}/fhir",
        },
        "fhirVersion": "4.0.1",
        "format": ["application/fhir+json"],
        "rest": [
            {
                "mode": "server",
                "security": {
                    # What api.authentication accepts: the Bearer scheme (RFC 6750), never "Token".
                    # No code of restful-security-service names a plain bearer token: text only.
                    "service": [{"text": "Bearer token (RFC 6750): Authorization: Bearer <token>"}],
                    "description": "A clinic's API token (Authorization: Bearer <token>) or a staff session; "
                    "a patient outside the caller's clinic is a 404.",
                },
                "resource": [
                    {
                        "type": "PlanDefinition",
                        "interaction": [{"code": "read"}],
                        "documentation": "A procedure's checklist template, with its timing and sources.",
                    },
                    {
                        "type": "Questionnaire",
                        "interaction": [{"code": "read"}],
                        "documentation": "The pre-procedure health questionnaire (its answers are in the "
                        "$preop Bundle as QuestionnaireResponses).",
                    },
                    {
                        "type": "Patient",
                        "operation": [
                            {
                                "name": "preop",
                                "definition": f"{base}/fhir/OperationDefinition/Patient-preop",
                                "documentation": "Bundle of the patient's pre-operative preparation: "
                                "CarePlan, Tasks, Observations, MedicationStatements, ServiceRequest, "
                                "Appointment, Questionnaires and QuestionnaireResponses.",
                            }
                        ],
                    },
                    {
                        "type": "Observation",
                        "interaction": [{"code": "create"}],
                        "documentation": "A lab result (LOINC code, subject by MRN identifier or Patient "
                        "reference), clinic API tokens only: stored in the results inbox, then it completes the "
                        "checklist item or waits for a nurse's review. Idempotent on identifier.",
                    },
                    {
                        "type": "DiagnosticReport",
                        "interaction": [{"code": "create"}],
                        "documentation": "An ECG or imaging report (conclusion, contained Observations); "
                        "presentedForm with inline data (PDF, PNG, JPEG) is attached to the item its result "
                        "completes; a url is noted, not fetched. Clinic API tokens only.",
                    },
                ],
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "A Bundle of Observation and DiagnosticReport creates, all or nothing.",
                    }
                ],
            }
        ],
    }


def base_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/")


def system(name: str) -> str:
    """Our own code systems and identifier namespaces."""
    return f"{base_url()}/fhir/CodeSystem/{name}"


def urn(value: uuid_lib.UUID | str) -> str:
    return f"urn:uuid:{value}"


def ref(resource: Json, display: str | None = None) -> Json:
    out: Json = {"reference": urn(resource["id"]), "type": resource["resourceType"]}
    if display:
        out["display"] = display
    return out


def derived_id(parent: uuid_lib.UUID, kind: str) -> str:
    """A stable UUID for a resource that has no row of its own (e.g. the Appointment of a surgery)."""
    return str(uuid_lib.uuid5(parent, kind))


def user_id(user: User) -> str:
    """Users have no public UUID; a keyed hash gives a stable one that reveals nothing of the row id."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"fhir-user:{user.pk}".encode(), hashlib.sha256).digest()
    return str(uuid_lib.UUID(bytes=digest[:16], version=4))


def instant(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).isoformat(timespec="seconds") if value else None


def plandefinition_url(template: ChecklistTemplate) -> str:
    return f"{base_url()}/fhir/PlanDefinition/{template.uuid}"


def _code(item_code: str, display: str, loinc: str = "") -> Json:
    codings = [{"system": system("checklist-item"), "code": item_code, "display": display}]
    if loinc:
        codings.append({"system": LOINC, "code": loinc, "display": LOINC_DISPLAY.get(loinc, display)})
    return {"coding": codings, "text": display}


# --- PlanDefinition --------------------------------------------------------------------------

PROCEDURE_ACTION_ID = "procedure"


def _duration(minutes: int) -> Json:
    if minutes and minutes % (24 * 60) == 0:
        return {"value": minutes // (24 * 60), "unit": "d", "system": UCUM, "code": "d"}
    if minutes and minutes % 60 == 0:
        return {"value": minutes // 60, "unit": "h", "system": UCUM, "code": "h"}
    return {"value": minutes, "unit": "min", "system": UCUM, "code": "min"}


def timing_text(ti: TemplateItem) -> str:
    days, minutes = ti.offset_days, ti.offset_minutes
    if ti.at_local_time is not None:
        when = {0: "on the day of the procedure", -1: "the day before the procedure", 1: "the day after"}.get(
            days, f"{abs(days)} days {'before' if days < 0 else 'after'} the procedure"
        )
        return f"{when}, at {ti.at_local_time:%H:%M} clinic time"
    total = days * 24 * 60 + minutes
    if total == 0:
        return "by the start of the procedure (hold items: by the last dose computed from the drug rule)"
    d = _duration(abs(total))
    unit = {"d": "day", "h": "hour", "min": "minute"}[d["unit"]]
    return f"{d['value']} {unit}{'s' if d['value'] != 1 else ''} {'before' if total < 0 else 'after'} the procedure"


def _action_timing(ti: TemplateItem) -> Json:
    """Timing relative to the procedure's start: relatedAction with an offset, plus the wall time."""
    total = ti.offset_days * 24 * 60 + (0 if ti.at_local_time else ti.offset_minutes)
    related: Json = {
        "actionId": PROCEDURE_ACTION_ID,
        "relationship": "after-start" if total > 0 else "before-start",
    }
    if total:
        related["offsetDuration"] = _duration(abs(total))
    out: Json = {"relatedAction": [related]}
    if ti.at_local_time is not None:
        out["timingTiming"] = {"repeat": {"timeOfDay": [ti.at_local_time.strftime("%H:%M:%S")]}}
    return out


def _participant(assignee: str) -> Json:
    kind = "patient" if assignee == "patient" else "practitioner"
    return {"type": kind, "role": {"text": assignee}}


def _template_action(ti: TemplateItem) -> Json:
    action: Json = {
        "id": str(ti.uuid),
        "title": ti.title_en,
        "description": ti.instructions_en,
        "code": [_code(ti.code, ti.title_en, ti.loinc)],
        "requiredBehavior": "must" if ti.required else "could",
        "participant": [_participant(ti.assignee)],
        "textEquivalent": f"{ti.title_en}: due {timing_text(ti)}.",
        **_action_timing(ti),
    }
    if ti.why_en:
        action["reason"] = [{"text": ti.why_en}]
    if ":" in ti.code:
        action["textEquivalent"] += " Words for the items made per medicine the patient takes."
    if ti.conditions:
        # In words from the one table of condition kinds (FHIR gets text, never something to execute).
        action["condition"] = [
            {
                "kind": "applicability",
                "expression": {"language": "text/plain", "description": conditions.describe(ti.conditions)},
            }
        ]
    return action


def plandefinition_build(*, template: ChecklistTemplate, items: Iterable[TemplateItem]) -> Json:
    actions = [
        {
            "id": PROCEDURE_ACTION_ID,
            "title": "The procedure",
            "description": "The booked procedure; every other action is timed relative to its start.",
        },
        *(_template_action(ti) for ti in items),
    ]
    return {
        "resourceType": "PlanDefinition",
        "id": str(template.uuid),
        "url": plandefinition_url(template),
        "version": template.version,
        "name": "".join(part.capitalize() for part in template.slug.replace("_", "-").split("-")),
        "title": template.name,
        "type": {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/plan-definition-type",
                    "code": "clinical-protocol",
                    "display": "Clinical Protocol",
                }
            ]
        },
        "status": "active",
        "date": instant(template.updated_at),
        "description": f"Pre-operative preparation checklist. Sources: {template.source}",
        "action": actions,
    }


# --- The patient's pre-operative bundle -------------------------------------------------------


def organization_build(clinic: Clinic) -> Json:
    out: Json = {"resourceType": "Organization", "id": str(clinic.uuid), "active": True, "name": clinic.name}
    if clinic.phone:
        out["telecom"] = [{"system": "phone", "value": clinic.phone, "use": "work"}]
    return out


def practitioner_build(user: User) -> Json:
    name: Json = {"text": user.display_name}
    if user.last_name:
        name["family"] = user.last_name
    if user.first_name:
        name["given"] = [user.first_name]
    return {"resourceType": "Practitioner", "id": user_id(user), "active": user.is_active, "name": [name]}


def patient_build(patient: Patient, organization: Json) -> Json:
    out: Json = {
        "resourceType": "Patient",
        "id": str(patient.uuid),
        "identifier": [
            {
                "use": "usual",
                "type": {
                    "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MR"}],
                    "text": "Medical record number",
                },
                "system": system(f"mrn/{patient.clinic.slug}"),
                "value": patient.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": patient.last_name, "given": [patient.first_name]}],
        "gender": GENDER.get(patient.sex, "unknown"),
        "birthDate": patient.birth_date.isoformat(),
        "communication": [{"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": patient.language}]}}],
        "managingOrganization": ref(organization, patient.clinic.name),
    }
    telecom = []
    if patient.mobile:
        telecom.append({"system": "sms", "value": patient.mobile, "use": "mobile"})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        out["telecom"] = telecom
    return out


# A guardian's relationship in HL7 v3 RoleCode (the RelatedPerson.relationship value set).
ROLE_CODES = {
    "mother": ("MTH", "mother"),
    "father": ("FTH", "father"),
    "legal_guardian": ("GUARD", "guardian"),
    "grandparent": ("GRPRN", "grandparent"),
}
ROLE_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"


def _relationship(guardian: Guardian) -> Json:
    concept: Json = {"text": guardian.get_relationship_display()}
    code = ROLE_CODES.get(guardian.relationship)
    if code:
        concept["coding"] = [{"system": ROLE_CODE_SYSTEM, "code": code[0], "display": code[1]}]
    return concept


def _guardian_telecom(guardian: Guardian) -> list[Json]:
    telecom: list[Json] = []
    if guardian.mobile:
        telecom.append({"system": "sms", "value": guardian.mobile, "use": "mobile"})
    if guardian.email:
        telecom.append({"system": "email", "value": guardian.email})
    return telecom


def related_person_build(guardian: Guardian, patient: Json) -> Json:
    """A parent or guardian as a RelatedPerson of the patient (relationship in v3 RoleCode)."""
    out: Json = {
        "resourceType": "RelatedPerson",
        "id": str(guardian.uuid),
        "active": guardian.receives_messages,
        "patient": ref(patient),
        "relationship": [_relationship(guardian)],
        "name": [{"use": "official", "family": guardian.last_name, "given": [guardian.first_name]}],
        "communication": [
            {
                "language": {"coding": [{"system": "urn:ietf:bcp:47", "code": guardian.language}]},
                "preferred": True,
            }
        ],
    }
    telecom = _guardian_telecom(guardian)
    if telecom:
        out["telecom"] = telecom
    return out


def patient_contact_build(guardian: Guardian) -> Json:
    """The same person in Patient.contact, for readers that look only at the Patient."""
    contact: Json = {
        "relationship": [_relationship(guardian)],
        "name": {"use": "official", "family": guardian.last_name, "given": [guardian.first_name]},
    }
    telecom = _guardian_telecom(guardian)
    if telecom:
        contact["telecom"] = telecom
    return contact


def medication_statement_build(medication: Medication, patient: Json) -> Json:
    concept: Json = {"text": medication.name}
    if medication.drug:
        concept["coding"] = [{"system": system("drug"), "code": medication.drug.slug, "display": medication.drug.name}]
    out: Json = {
        "resourceType": "MedicationStatement",
        "id": str(medication.uuid),
        "status": "stopped" if medication.stopped_at else "active",
        "category": {"text": "blood thinner"},
        "medicationCodeableConcept": concept,
        "subject": ref(patient),
        "dateAsserted": instant(medication.created_at),
    }
    if medication.stopped_at:
        out["effectivePeriod"] = {"end": instant(medication.stopped_at)}
    if medication.indication:
        out["reasonCode"] = [{"text": medication.get_indication_display()}]
    if medication.dose:
        out["dosage"] = [{"text": medication.dose}]
    return out


def service_request_build(surgery: Surgery, patient: Json, surgeon: Json | None) -> Json:
    procedure = surgery.procedure
    out: Json = {
        "resourceType": "ServiceRequest",
        "id": str(surgery.uuid),
        "status": SERVICE_REQUEST_STATUS.get(surgery.status, "unknown"),
        "intent": "order",
        "category": [{"text": "Surgical procedure"}],
        "code": {
            "coding": [{"system": system("procedure"), "code": procedure.slug, "display": procedure.name}],
            "text": procedure.name,
        },
        "subject": ref(patient),
        "occurrenceDateTime": instant(surgery.start_at),
        "authoredOn": instant(surgery.created_at),
    }
    site = " ".join(part for part in (surgery.get_side_display() if surgery.side else "", surgery.level) if part)
    if site:
        out["bodySite"] = [{"text": site}]
    if surgeon is not None and surgery.surgeon is not None:
        out["performer"] = [ref(surgeon, surgery.surgeon.display_name)]
    if surgery.anaesthesia:
        out["note"] = [{"text": f"Anaesthesia: {surgery.get_anaesthesia_display()}"}]
    return out


def appointment_build(surgery: Surgery, patient: Json, service_request: Json, surgeon: Json | None) -> Json:
    participants = [{"actor": ref(patient), "required": "required", "status": "accepted"}]
    if surgeon is not None:
        participants.append({"actor": ref(surgeon), "required": "required", "status": "accepted"})
    out: Json = {
        "resourceType": "Appointment",
        "id": derived_id(surgery.uuid, "Appointment"),
        "status": APPOINTMENT_STATUS.get(surgery.status, "booked"),
        "serviceType": [{"text": surgery.procedure.name}],
        "description": surgery.procedure.name,
        "start": instant(surgery.start_at),
        "end": instant(surgery.start_at + NOMINAL_SLOT),
        "comment": "The end is a nominal one-hour slot: the booking records only the start.",
        "basedOn": [ref(service_request)],
        "participant": participants,
    }
    if surgery.place:
        out["comment"] += f" Place: {surgery.place}."
    return out


def careplan_build(
    checklist: Checklist, surgery: Surgery, patient: Json, organization: Json, service_request: Json
) -> Json:
    if checklist.status == ChecklistStatus.CLOSED:
        status = "revoked" if surgery.status == SurgeryStatus.CANCELLED else "completed"
    else:
        status = "active"
    out: Json = {
        "resourceType": "CarePlan",
        "id": str(checklist.uuid),
        "instantiatesCanonical": [f"{plandefinition_url(checklist.template)}|{checklist.catalogue_version}"],
        "status": status,
        "intent": "plan",
        "title": f"Preparation for {surgery.procedure.name}",
        "subject": ref(patient),
        "period": {"start": instant(checklist.generated_at), "end": instant(surgery.start_at)},
        "created": instant(checklist.generated_at),
        "author": ref(organization),
        "supportingInfo": [ref(service_request)],
        "activity": [],
    }
    if checklist.closed_reason:
        out["note"] = [{"text": checklist.closed_reason}]
    return out


def _quantity(value: str, unit: str) -> Json | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    # JSON numbers, not strings; an integral value stays an integer.
    out: Json = {"value": int(number) if number == number.to_integral_value() else float(number)}
    if unit:
        out.update({"unit": unit, "system": UCUM, "code": UCUM_CODES.get(unit, unit)})
    return out


def _result_value(item: ChecklistItem) -> Json:
    """The result as an ``value[x]`` pair, by the template item's result kind."""
    ti = item.template_item
    kind = ti.result_kind if ti else "text"
    if kind == "number" and ti is not None:
        quantity = _quantity(item.result_value, ti.result_unit)
        if quantity is not None:
            return {"valueQuantity": quantity}
    if kind == "choice":
        return {"valueCodeableConcept": {"text": item.result_value}}
    if kind == "date":
        return {"valueDateTime": item.result_value}
    return {"valueString": item.result_value}


def observation_build(item: ChecklistItem, patient: Json, service_request: Json, organization: Json) -> Json:
    ti = cast(TemplateItem, item.template_item)  # has_observation(item): it has one
    return {
        "resourceType": "Observation",
        "id": derived_id(item.uuid, "Observation"),
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "imaging" if ti.category == "imaging" or ti.loinc == "36643-5" else "laboratory",
                    }
                ]
            }
        ],
        "code": {
            "coding": [{"system": LOINC, "code": ti.loinc, "display": LOINC_DISPLAY.get(ti.loinc, ti.title_en)}],
            "text": ti.title_en,
        },
        "subject": ref(patient),
        "basedOn": [ref(service_request)],
        "effectiveDateTime": instant(item.result_at or item.completed_at),
        "issued": instant(item.completed_at or item.updated_at),
        "performer": [ref(organization)],
        **_result_value(item),
    }


def has_observation(item: ChecklistItem) -> bool:
    return bool(
        item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED)
        and item.result_value
        and item.template_item is not None
        and item.template_item.loinc
    )


def task_build(
    item: ChecklistItem,
    *,
    patient: Json,
    careplan: Json,
    organization: Json,
    surgeon: Json | None,
    observation: Json | None,
) -> Json:
    # An open hold waiting for the prescriber cannot be acted on yet: requested, not ready.
    open_status = "requested" if item.locked else "ready"
    status = open_status if item.status == ItemStatus.OPEN else TASK_STATUS[item.status]
    if item.assignee == "patient":
        owner = ref(patient)
    elif item.assignee == "surgeon" and surgeon is not None:
        owner = ref(surgeon)
    else:
        owner = ref(organization)
    ti = item.template_item
    out: Json = {
        "resourceType": "Task",
        "id": str(item.uuid),
        "basedOn": [ref(careplan)],
        "status": status,
        "intent": "order",
        "priority": "routine",
        "code": _code(item.code, item.title, ti.loinc if ti else ""),
        "description": item.title,
        "for": ref(patient),
        "authoredOn": instant(item.created_at),
        "lastModified": instant(item.updated_at),
        "owner": owner,
        "restriction": {"period": {"end": instant(item.due_at)}},
        "reasonCode": {"text": item.reason},
    }
    if item.status == ItemStatus.PATIENT_CONFIRMED:
        out["businessStatus"] = {
            "coding": [{"system": system("task-business-status"), "code": "patient-confirmed"}],
            "text": "Confirmed by the patient; waiting for a nurse to accept",
        }
    if item.status == ItemStatus.NOT_APPLICABLE and item.na_reason:
        out["statusReason"] = {"text": item.na_reason}
    if item.completed_at:
        out["executionPeriod"] = {"end": instant(item.completed_at)}
    if item.status in (ItemStatus.DONE, ItemStatus.ACCEPTED) and item.result_value:
        output_type = {"coding": [{"system": system("task-output"), "code": "result"}], "text": "Result"}
        value = {"valueReference": ref(observation)} if observation else _result_value(item)
        out["output"] = [{"type": output_type, **value}]
    return out


def entry(resource: Json) -> Json:
    return {"fullUrl": urn(resource["id"]), "resource": resource}


def preop_bundle_build(
    *,
    patient: Patient,
    medications: Iterable[Medication],
    surgeries: Iterable[Surgery],
    template_items: Mapping[int, list[TemplateItem]],
    now: dt.datetime | None = None,
    guardians: Iterable[Guardian] = (),
) -> Json:
    """The patient, their parents or guardians (Patient.contact and RelatedPerson entries), their blood
    thinners and, for each surgery given, its request, appointment, care plan, tasks and observations.
    Surgeries must come with ``checklist`` and its items loaded."""
    now = now or timezone.now()
    organization = organization_build(patient.clinic)
    patient_res = patient_build(patient, organization)
    guardians = list(guardians)
    if guardians:
        patient_res["contact"] = [patient_contact_build(g) for g in guardians]
    resources: dict[str, Json] = {}

    def add(resource: Json) -> Json:
        resources.setdefault(resource["id"], resource)
        return resources[resource["id"]]

    add(patient_res)
    add(organization)
    for guardian in guardians:
        add(related_person_build(guardian, patient_res))
    for medication in medications:
        if medication.is_blood_thinner:
            add(medication_statement_build(medication, patient_res))
    for surgery in surgeries:
        surgeon = add(practitioner_build(surgery.surgeon)) if surgery.surgeon else None
        service_request = add(service_request_build(surgery, patient_res, surgeon))
        add(appointment_build(surgery, patient_res, service_request, surgeon))
        checklist = getattr(surgery, "checklist", None)
        if checklist is None:
            continue
        template = checklist.template
        add(plandefinition_build(template=template, items=template_items.get(template.pk, [])))
        careplan = add(careplan_build(checklist, surgery, patient_res, organization, service_request))
        for item in checklist.items.all():
            observation = None
            if has_observation(item):
                observation = add(observation_build(item, patient_res, service_request, organization))
            task = add(
                task_build(
                    item,
                    patient=patient_res,
                    careplan=careplan,
                    organization=organization,
                    surgeon=surgeon,
                    observation=observation,
                )
            )
            careplan["activity"].append({"reference": ref(task, item.title)})
        if not careplan["activity"]:
            del careplan["activity"]
    return {
        "resourceType": "Bundle",
        "id": str(uuid_lib.uuid4()),
        "meta": {"lastUpdated": instant(now)},
        "type": "collection",
        "timestamp": instant(now),
        "entry": [entry(r) for r in resources.values()],
    }
