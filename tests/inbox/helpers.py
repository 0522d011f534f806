"""HL7 v2 ORU^R01 and FHIR bodies for the inbox tests."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

FHIR = "application/fhir+json"


def hl7_stamp(when: dt.datetime | None = None) -> str:
    return timezone.localtime(when or timezone.now()).strftime("%Y%m%d%H%M%S%z")


def oru(
    *,
    control: str,
    mrn: str,
    obx: list[tuple[str, str, str, str, str]],
    observed: dt.datetime | None = None,
    sender: str = "LAB^MAINLAB",
) -> str:
    """An ORU^R01 (segments separated by CR). ``obx``: (type, LOINC code, name, value, unit)."""
    when = hl7_stamp(observed)
    app, _, facility = sender.partition("^")
    segments = [
        f"MSH|^~\\&|{app}|{facility}|PREOP|WESTSIDE|{when}||ORU^R01^ORU_R01|{control}|P|2.5.1",
        f"PID|1||{mrn}^^^WESTSIDE^MR||Tester^Pat||19600501|F",
        f"OBR|1||ORD-{control}|24323-8^Panel^LN|||{when}",
    ]
    for n, (kind, code, name, value, unit) in enumerate(obx, start=1):
        segments.append(f"OBX|{n}|{kind}|{code}^{name}^LN||{value}|{unit}|||||F|||{when}")
    return "\r".join(segments) + "\r"


def hemoglobin(*, control: str, mrn: str, value: str = "13.2", unit: str = "g/dL", observed=None) -> str:
    return oru(control=control, mrn=mrn, obx=[("NM", "718-7", "Hemoglobin", value, unit)], observed=observed)


def inr(*, control: str, mrn: str, value: str = "2.6", observed=None) -> str:
    return oru(control=control, mrn=mrn, obx=[("NM", "6301-6", "INR", value, "{INR}")], observed=observed)


def observation(*, ident: str, mrn: str, code: str = "718-7", value: float = 13.2, unit: str = "g/dL") -> dict:
    return {
        "resourceType": "Observation",
        "identifier": [{"system": "urn:oid:1.2.3.4.lab", "value": ident}],
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code, "display": "Hemoglobin"}]},
        "subject": {"identifier": {"system": "urn:mrn:westside", "value": mrn}},
        "effectiveDateTime": timezone.localtime().isoformat(timespec="seconds"),
        "valueQuantity": {"value": value, "unit": unit, "system": "http://unitsofmeasure.org", "code": unit},
    }
