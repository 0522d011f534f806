"""Clinics, patients, their medications and their bookings."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from simple_history.models import HistoricalRecords

from core.models import PublicIdModel, TrackedModel
from patients.validators import validate_e164, validate_time_zone

# Patient flags that catalogue conditions may name. Booleans, not a JSON bag: queryable,
# reviewable in the admin, and a typo in a catalogue condition fails the loader.
PATIENT_FLAGS = ("claustrophobic", "cardiac_history", "impaired_renal_function", "latex_allergy")


def _default_tz() -> str:
    return settings.DEFAULT_CLINIC_TIME_ZONE


class Clinic(PublicIdModel):
    name = models.CharField(max_length=200)
    slug = models.SlugField(unique=True)
    phone = models.CharField(max_length=32, blank=True, help_text="Shown to patients and in texts.")
    time_zone = models.CharField(max_length=64, default=_default_tz, validators=[validate_time_zone])
    quiet_hours_start = models.TimeField(default=dt.time(21, 0), help_text="No messages from this local time…")
    quiet_hours_end = models.TimeField(default=dt.time(8, 0), help_text="…until this local time.")
    go_no_go_hours = models.PositiveIntegerField(
        default=24, help_text="Hours before the surgery at which open required items make it 'not ready'."
    )
    escalation_hours = models.PositiveIntegerField(
        default=48, help_text="A required item still open this close to its due time puts the surgery 'at risk'."
    )
    cardiac_age_threshold = models.PositiveIntegerField(
        default=65,
        validators=[MinValueValidator(18), MaxValueValidator(120)],
        help_text="Age from which the cardiac evaluation applies (with the procedure's risk).",
    )
    clock_12h = models.BooleanField(
        "12-hour clock",
        default=False,
        help_text="Show times as 2:30 PM (US clinics) instead of 14:30, on staff pages, the portal and messages.",
    )
    sms_daily_limit = models.PositiveIntegerField(default=1)
    digest_hour = models.PositiveIntegerField(default=7, validators=[MaxValueValidator(23)])

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)


# Thrombotic-risk and metabolic conditions the catalogue and the alerts read (see
# clinical-reference.md 5a/5b); codes are those of ``preview_checklist --condition``.
CONDITION_CODES = (
    "drug_eluting_stent",
    "bare_metal_stent",
    "mechanical_heart_valve",
    "atrial_fibrillation",
    "vte",
    "stroke",
    "diabetes",
)


class StentType(models.TextChoices):
    NONE = "", "No coronary stent"
    DRUG_ELUTING = "drug_eluting", "Drug-eluting stent"
    BARE_METAL = "bare_metal", "Bare-metal stent"


class Sex(models.TextChoices):
    FEMALE = "female", "Female"
    MALE = "male", "Male"
    OTHER = "other", "Other"
    UNKNOWN = "unknown", "Unknown"


class Language(models.TextChoices):
    EN = "en", "English"
    ES = "es", "Español"


class Patient(TrackedModel):
    clinic = models.ForeignKey(Clinic, on_delete=models.PROTECT, related_name="patients")
    mrn = models.CharField("medical record number", max_length=40)
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    birth_date = models.DateField()
    sex = models.CharField(max_length=10, choices=Sex.choices, default=Sex.UNKNOWN)
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    time_zone = models.CharField(
        max_length=64, blank=True, validators=[validate_time_zone], help_text="Blank: the clinic's time zone."
    )
    email = models.EmailField(blank=True)
    mobile = models.CharField(
        max_length=20, blank=True, validators=[validate_e164], help_text="E.164, e.g. +13105550100"
    )
    channel_email = models.BooleanField("reminders by email", default=True)
    channel_sms = models.BooleanField("reminders by SMS", default=False)
    sms_consent = models.BooleanField(default=False, help_text="The patient agreed to receive texts.")
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True, help_text="Set by a STOP reply.")
    sms_detailed = models.BooleanField(
        default=False, help_text="The patient opted in to texts that name procedures and drugs."
    )
    claustrophobic = models.BooleanField(default=False)
    cardiac_history = models.BooleanField(default=False)
    impaired_renal_function = models.BooleanField(default=False)
    latex_allergy = models.BooleanField(default=False)
    allergies = models.TextField(blank=True)
    # Thrombotic risk: stopping a blood thinner can itself be dangerous (clinical-reference.md 5a).
    stent = models.CharField("coronary stent", max_length=14, choices=StentType.choices, blank=True)
    stent_date = models.DateField("date the stent was placed", null=True, blank=True)
    mechanical_heart_valve = models.BooleanField(default=False)
    atrial_fibrillation = models.BooleanField(default=False)
    vte_date = models.DateField(
        "date of the latest blood clot (DVT or PE)", null=True, blank=True, help_text="Blank: no clot."
    )
    stroke_date = models.DateField(
        "date of the latest stroke or TIA", null=True, blank=True, help_text="Blank: no stroke."
    )
    diabetes = models.BooleanField(default=False)
    crcl_ml_min = models.PositiveSmallIntegerField(
        "creatinine clearance (mL/min)",
        null=True,
        blank=True,
        validators=[MinValueValidator(1), MaxValueValidator(250)],
        help_text="Blank: not known. DOAC holds depend on it.",
    )
    needs_guardian = models.BooleanField(
        "needs a parent or guardian",
        default=False,
        help_text="An adult whose parent or guardian receives the messages and signs in for them "
        "(under 18 this is automatic).",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["last_name", "first_name"]
        constraints = [models.UniqueConstraint(fields=["clinic", "mrn"], name="patient_mrn_unique_per_clinic")]
        indexes = [models.Index(fields=["clinic", "last_name"])]

    def __str__(self) -> str:
        return f"{self.last_name}, {self.first_name} ({self.mrn})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone or self.clinic.time_zone)

    def age_on(self, day: dt.date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday

    def age_label_on(self, day: dt.date) -> str:
        """The age as staff read it: "34 y"; under 2, years and months ("1 y 4 m", "9 m")."""
        years = self.age_on(day)
        if years >= 2:
            return f"{years} y"
        months = (day.year - self.birth_date.year) * 12 + day.month - self.birth_date.month
        if day.day < self.birth_date.day:
            months -= 1
        months = max(months, 0)
        return f"{months // 12} y {months % 12} m" if months >= 12 else f"{months} m"

    @property
    def adult_from(self) -> dt.date:
        """The 18th birthday (a 29 February birthday counts from 1 March in a common year)."""
        try:
            return self.birth_date.replace(year=self.birth_date.year + ADULT_AGE)
        except ValueError:
            return dt.date(self.birth_date.year + ADULT_AGE, 3, 1)

    def guardian_required_on(self, day: dt.date) -> bool:
        """True when a parent or guardian, not the patient, is the contact on ``day`` (the
        patient's local date): under 18, or an adult staff marked as needing one."""
        return self.needs_guardian or day < self.adult_from

    @property
    def flags(self) -> frozenset[str]:
        return frozenset(name for name in PATIENT_FLAGS if getattr(self, name))

    @property
    def conditions(self) -> dict[str, dt.date | None]:
        """Condition code -> its date where one is recorded (None: present, date unknown)."""
        found: dict[str, dt.date | None] = {}
        if self.stent:
            found[f"{self.stent}_stent"] = self.stent_date
        if self.mechanical_heart_valve:
            found["mechanical_heart_valve"] = None
        if self.atrial_fibrillation:
            found["atrial_fibrillation"] = None
        if self.vte_date:
            found["vte"] = self.vte_date
        if self.stroke_date:
            found["stroke"] = self.stroke_date
        if self.diabetes:
            found["diabetes"] = None
        return found

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        super().clean()
        if self.stent_date and not self.stent:
            raise ValidationError({"stent": "Say which kind of stent was placed on that date."})
        today = timezone.localdate()
        for name in ("stent_date", "vte_date", "stroke_date"):
            value = getattr(self, name)
            if value and value > today:
                raise ValidationError({name: "This date cannot be in the future."})

    @property
    def can_receive_sms(self) -> bool:
        return bool(self.mobile and self.channel_sms and self.sms_consent and not self.sms_opted_out_at)


# From this age a patient is their own contact (unless staff set ``needs_guardian``).
ADULT_AGE = 18


class Relationship(models.TextChoices):
    MOTHER = "mother", "Mother"
    FATHER = "father", "Father"
    LEGAL_GUARDIAN = "legal_guardian", "Legal guardian"
    GRANDPARENT = "grandparent", "Grandparent"
    OTHER = "other", "Other relative or carer"


class Guardian(TrackedModel):
    """A parent or guardian who receives a patient's messages and signs in to the portal for them.

    While the patient needs one (``Patient.guardian_required_on``) the guardians who receive
    messages get the sign-in links and the reminders, each on their own channels and consent, and
    the patient's own email and mobile get nothing.
    """

    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="guardians")
    first_name = models.CharField(max_length=100)
    last_name = models.CharField(max_length=100)
    relationship = models.CharField(max_length=20, choices=Relationship.choices)
    # Asked at the portal sign-in together with the patient's date of birth (portal.services).
    birth_year = models.PositiveSmallIntegerField(
        "year of birth", help_text="The guardian's own; asked when they sign in for the patient."
    )
    language = models.CharField(max_length=5, choices=Language.choices, default=Language.EN)
    email = models.EmailField(blank=True)
    mobile = models.CharField(
        max_length=20, blank=True, validators=[validate_e164], help_text="E.164, e.g. +13105550100"
    )
    channel_email = models.BooleanField("reminders by email", default=True)
    channel_sms = models.BooleanField("reminders by SMS", default=False)
    sms_consent = models.BooleanField(default=False, help_text="The guardian agreed to receive texts.")
    sms_consent_at = models.DateTimeField(null=True, blank=True)
    sms_opted_out_at = models.DateTimeField(null=True, blank=True, help_text="Set by a STOP reply.")
    sms_detailed = models.BooleanField(
        default=False, help_text="The guardian opted in to texts that name procedures and drugs."
    )
    is_primary = models.BooleanField("main contact", default=False)
    receives_messages = models.BooleanField(
        default=True, help_text="Gets the reminders and sign-in links. Untick to keep the record without messages."
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["-is_primary", "created_at", "id"]
        indexes = [models.Index(fields=["mobile"]), models.Index(fields=["email"])]

    def __str__(self) -> str:
        return f"{self.full_name} ({self.get_relationship_display().lower()})"

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}"

    @property
    def can_receive_sms(self) -> bool:
        return bool(self.mobile and self.channel_sms and self.sms_consent and not self.sms_opted_out_at)

    @property
    def reachable(self) -> bool:
        """Receives messages and has somewhere to receive them."""
        return self.receives_messages and bool(self.email or self.mobile)


class Indication(models.TextChoices):
    NONE = "", "—"
    PRIMARY = "primary", "Primary prevention"
    SECONDARY = "secondary", "Secondary prevention"
    PROPHYLACTIC = "prophylactic", "Prophylactic dose"
    THERAPEUTIC = "therapeutic", "Therapeutic dose"


class Medication(TrackedModel):
    patient = models.ForeignKey(Patient, on_delete=models.CASCADE, related_name="medications")
    drug = models.ForeignKey(
        "prep.Drug", null=True, blank=True, on_delete=models.PROTECT, help_text="Blank: a drug not in the catalogue."
    )
    name = models.CharField(max_length=120, help_text="As the patient or prescriber names it.")
    indication = models.CharField(max_length=20, choices=Indication.choices, blank=True)
    dose = models.CharField(max_length=120, blank=True)
    is_blood_thinner = models.BooleanField(
        default=False, help_text="For drugs not in the catalogue: ask the prescriber about a hold."
    )
    stopped_at = models.DateTimeField(null=True, blank=True, help_text="No longer taken (not a pre-op hold).")
    no_rule_confirmed = models.BooleanField(
        "checked: no preparation rule",
        default=False,
        help_text="Staff checked this medicine: it needs no hold or decision before the procedure.",
    )

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name + (f" ({self.get_indication_display()})" if self.indication else "")


class Anaesthesia(models.TextChoices):
    GENERAL = "general", "General anaesthesia"
    SEDATION = "sedation", "IV sedation"
    LOCAL = "local", "Local anaesthesia"


class SurgeryStatus(models.TextChoices):
    BOOKED = "booked", "Booked"
    POSTPONED = "postponed", "Postponed"
    CANCELLED = "cancelled", "Cancelled"
    DONE = "done", "Done"


# A booking that is still going to happen: its checklist is worked on and its reminders are sent.
ACTIVE_SURGERY_STATUSES = (SurgeryStatus.BOOKED, SurgeryStatus.POSTPONED)


class CancelReason(models.TextChoices):
    """Why a surgery was cancelled or given a No go: a code from this list, and a note beside it.

    The ``prep_`` codes are the preparation's own failures, the ones this product exists to prevent;
    the clinic dashboard counts them apart from the others (``PREPARATION_REASONS``).
    """

    PREP_TESTS = "prep_tests", "Tests or results missing or out of date"
    PREP_MEDICATION = "prep_medication", "A medicine not stopped as planned"
    PREP_FASTING = "prep_fasting", "Fasting instructions not followed"
    PREP_CLEARANCE = "prep_clearance", "Medical or cardiac clearance missing"
    PREP_CONSENT = "prep_consent", "Consent or paperwork missing"
    PREP_OTHER = "prep_other", "Other preparation problem"
    PATIENT_REQUEST = "patient_request", "The patient's own request"
    PATIENT_UNWELL = "patient_unwell", "Patient unwell (a new illness)"
    NO_SHOW = "no_show", "The patient did not come"
    SURGEON = "surgeon", "Surgeon unavailable"
    THEATRE = "theatre", "Theatre, equipment or staff unavailable"
    INSURANCE = "insurance", "Insurance or authorisation"
    OTHER = "other", "Other (say why in the note)"


PREPARATION_REASONS = frozenset(code for code in CancelReason.values if code.startswith("prep_"))
# The list as the forms show it: preparation first, in its own group.
CANCEL_REASON_GROUPS = [
    ("Preparation", [(c.value, c.label) for c in CancelReason if c.value in PREPARATION_REASONS]),
    ("Other reasons", [(c.value, c.label) for c in CancelReason if c.value not in PREPARATION_REASONS]),
]


class Side(models.TextChoices):
    NA = "", "—"
    LEFT = "left", "Left"
    RIGHT = "right", "Right"
    BILATERAL = "bilateral", "Bilateral"


class GoDecision(models.TextChoices):
    PENDING = "", "Not decided"
    GO = "go", "Go"
    NO_GO = "no_go", "No go"


class Surgery(TrackedModel):
    patient = models.ForeignKey(Patient, on_delete=models.PROTECT, related_name="surgeries")
    # The patient's clinic, repeated here (a patient never changes clinic) so that the board reads
    # one clinic's surgeries of the coming days through one index, whatever the other clinics hold.
    clinic = models.ForeignKey(
        Clinic, on_delete=models.PROTECT, related_name="surgeries", editable=False, db_index=False
    )
    procedure = models.ForeignKey("prep.ProcedureVariant", on_delete=models.PROTECT, related_name="surgeries")
    level = models.CharField(max_length=60, blank=True, help_text="e.g. L4-L5, V2")
    side = models.CharField(max_length=10, choices=Side.choices, blank=True)
    start_at = models.DateTimeField(db_index=True)
    place = models.CharField(max_length=200, blank=True)
    anaesthesia = models.CharField(max_length=10, choices=Anaesthesia.choices)
    surgeon = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="surgeries"
    )
    status = models.CharField(max_length=10, choices=SurgeryStatus.choices, default=SurgeryStatus.BOOKED)
    # Bumped on every reschedule/cancel: reminders are keyed by it, so an old plan can never send.
    version = models.PositiveIntegerField(default=1)
    go_decision = models.CharField(max_length=6, choices=GoDecision.choices, blank=True)
    go_decision_note = models.TextField(blank=True)
    go_decided_at = models.DateTimeField(null=True, blank=True)
    # A No go's reason from the list (the note says more); blank for Go and undecided.
    no_go_reason = models.CharField(max_length=20, choices=CancelReason.choices, blank=True)
    go_decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Go on a patient who was not ready: the decider's stated reason (shown on the board and sheet).
    go_override_reason = models.TextField(blank=True)
    # A Go taken back by a later change (a new required item, an alert): when and why, for the surgeon.
    go_withdrawn_at = models.DateTimeField(null=True, blank=True)
    go_withdrawn_reason = models.CharField(max_length=300, blank=True)
    # Cancelled: when, why from the list, and the words given (the clinic dashboard counts the codes).
    cancelled_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=20, choices=CancelReason.choices, blank=True)
    cancel_note = models.TextField(blank=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["start_at"]
        verbose_name_plural = "surgeries"
        indexes = [
            models.Index(fields=["status", "start_at"]),
            models.Index(fields=["clinic", "status", "start_at"], name="surgery_clinic_status_start"),
        ]

    def __str__(self) -> str:
        return f"{self.procedure} for {self.patient} at {self.start_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.clinic_id is None and self.patient_id is not None:
            self.clinic_id = self.patient.clinic_id
        super().save(*args, **kwargs)

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_SURGERY_STATUSES
