"""The clinical catalogue (procedures, templates, items, drug rules) and patients' checklists.

The catalogue is data loaded from ``prep/catalogue/*.yaml`` (``load_catalogue``) and editable in
the admin; nothing clinical is a constant in code.
"""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import models
from simple_history.models import HistoricalRecords

from core.models import PublicIdModel, TrackedModel


class CatalogueRelease(models.Model):
    """A catalogue version that was loaded; loading the same version again changes nothing."""

    version = models.CharField(max_length=40, primary_key=True)
    loaded_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.version


class RiskClass(models.TextChoices):
    LOW = "low", "Low"
    INTERMEDIATE = "intermediate", "Intermediate"
    HIGH = "high", "High"


class ProcedureVariant(PublicIdModel):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    name_es = models.CharField(max_length=200, blank=True)
    risk = models.CharField("bleeding-risk class", max_length=12, choices=RiskClass.choices)
    risk_note = models.TextField(blank=True, help_text="Why this class; whether the clinic must confirm it.")
    risk_to_be_confirmed = models.BooleanField(default=False)
    # Cardiovascular risk of the procedure (ESC 2022), a different scale from the bleeding risk
    # above: it drives the cardiac work-up, the bleeding risk drives blood-thinner holds.
    cardiac_risk = models.CharField(
        "cardiovascular-risk class", max_length=12, choices=RiskClass.choices, default=RiskClass.LOW
    )
    cardiac_risk_to_be_confirmed = models.BooleanField(default=True)
    cardiac_risk_note = models.TextField(blank=True)
    default_anaesthesia = models.CharField(max_length=10)
    region = models.CharField(max_length=20, help_text="lumbar, thoracic, cervical, trigeminal…")
    template = models.ForeignKey("ChecklistTemplate", on_delete=models.PROTECT, related_name="procedures")
    source = models.TextField()
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ChecklistTemplate(PublicIdModel):
    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40, help_text="Catalogue version the template was loaded from.")
    source = models.TextField()
    # The catalogue's age bands (``age_bands`` in the file), copied onto each template when loaded
    # so that planning reads them with the template's items, in the same query:
    # [{slug, name, min_age, max_age (None: no upper limit), audience: patient | parent, source}].
    age_bands = models.JSONField(
        default=list,
        blank=True,
        help_text="Age bands on the surgery day (whole years, inclusive); 'parent' bands address the texts "
        "to a parent or guardian.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"


class Assignee(models.TextChoices):
    NURSE = "nurse", "Nurse"
    PATIENT = "patient", "Patient"
    SURGEON = "surgeon", "Surgeon / prescriber"


class Category(models.TextChoices):
    TESTS = "tests", "Tests"
    IMAGING = "imaging", "Imaging"
    MEDICATION = "medication", "Medication"
    FASTING = "fasting", "Fasting"
    LOGISTICS = "logistics", "Logistics"
    CONSENT = "consent", "Consent"
    FOLLOW_UP = "follow_up", "Follow-up"


class ResultKind(models.TextChoices):
    NONE = "none", "No result"
    CHOICE = "choice", "Choice"
    NUMBER = "number", "Number"
    DATE = "date", "Date"
    TEXT = "text", "Free text"


# What an item means to the patient and the reminders is catalogue data, never a check on its
# code: renaming an item in the catalogue must not change how it is confirmed, reminded or shown.
class ConfirmAs(models.TextChoices):
    """The evidence the patient gives to confirm the item (``portal.forms.CONFIRM_FORMS``)."""

    DONE = "done", "Ticks that it is done"
    RIDE = "ride", "Confirms an adult takes them home"
    LAST_DOSE = "last_dose", "Gives the date of the last dose"
    LAST_MEAL = "last_meal", "Gives the time of the last meal (from the day before)"
    LAST_DRINK = "last_drink", "Gives the time of the last drink (from the day before)"
    # Completed by sending the health questionnaire (issue 20), never by a tick in the portal.
    FORM = "form", "Sends the health questionnaire"


class ReminderKind(models.TextChoices):
    """The words of the item's reminders (a subset of ``reminders.models.Kind``)."""

    TESTS = "tests", "Tests to attend"
    HOLD = "hold", "Blood-thinner hold"
    FASTING = "fasting", "Fasting"
    ARRIVAL = "arrival", "Arrival"
    TASK = "task", "Preparation task"


def default_reminder_kind(category: str) -> str:
    """The reminder words of an item whose catalogue entry does not name them: by its category."""
    if category == Category.FASTING:
        return ReminderKind.FASTING
    if category in (Category.TESTS, Category.IMAGING):
        return ReminderKind.TESTS
    return ReminderKind.TASK


class ShowTime(models.TextChoices):
    """How the portal shows the due time: the day only, or the clock time under a label."""

    DAY = "", "The day only"
    TIME = "time", "Day and time"
    LAST_FOOD = "last_food", "Day and time, as the last solid food"
    LAST_DRINK = "last_drink", "Day and time, as the last clear drink"
    ARRIVE_BY = "arrive_by", "Day and time, as the arrival (also shown with the surgery's time)"


class CalendarEntry(models.TextChoices):
    """The event the item puts in the patient's calendar file, if any."""

    NONE = "", "None"
    STOP_EATING = "stop_eating", "Stop eating"
    STOP_DRINKING = "stop_drinking", "Stop drinking"
    ARRIVAL = "arrival", "Arrive at the clinic"
    FOLLOW_UP = "follow_up", "Follow-up"


class TemplateItem(PublicIdModel):
    """One line of a template. ``code`` is a stable identifier (exports, tests, analytics)."""

    template = models.ForeignKey(ChecklistTemplate, on_delete=models.CASCADE, related_name="items")
    code = models.CharField(max_length=60)
    category = models.CharField(max_length=12, choices=Category.choices)
    assignee = models.CharField(max_length=10, choices=Assignee.choices)
    required = models.BooleanField(default=True)
    title_en = models.CharField("staff title", max_length=200)
    patient_title_en = models.CharField(max_length=200)
    patient_title_es = models.CharField(max_length=200)
    instructions_en = models.TextField()
    instructions_es = models.TextField()
    why_en = models.TextField(blank=True)
    why_es = models.TextField(blank=True)
    # The same texts addressed to a parent or guardian, used when the patient is in a ``parent`` age
    # band (a child on the surgery day); ``{first_name}`` is the child's. Blank: the patient's text.
    # Read them through ``prep.selectors.item_text``, never directly.
    patient_title_parent_en = models.CharField(max_length=200, blank=True)
    patient_title_parent_es = models.CharField(max_length=200, blank=True)
    instructions_parent_en = models.TextField(blank=True)
    instructions_parent_es = models.TextField(blank=True)
    why_parent_en = models.TextField(blank=True)
    why_parent_es = models.TextField(blank=True)
    # Timing relative to the surgery's start, in the clinic's time zone:
    #  - at_local_time set: that wall-clock time, ``offset_days`` calendar days from the surgery day;
    #  - else ``offset_days`` calendar days (same wall time) plus ``offset_minutes`` of elapsed time.
    offset_days = models.IntegerField(default=0)
    offset_minutes = models.IntegerField(default=0)
    at_local_time = models.TimeField(null=True, blank=True)
    # Other timings a clinic may choose for some age bands (ClinicTestPolicy.timing_option), e.g. clear
    # liquids until 1 h before for children: {name: {offset_days, offset_minutes, at_local_time,
    # age_band_in, note}}.
    timing_options = models.JSONField(default=dict, blank=True)
    # Structured, validated by prep.conditions (no eval): see that module for the keys.
    conditions = models.JSONField(default=dict, blank=True)
    result_kind = models.CharField(max_length=8, choices=ResultKind.choices, default=ResultKind.NONE)
    result_choices = models.JSONField(default=list, blank=True)
    result_unit = models.CharField(max_length=20, blank=True)
    result_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    result_max = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    validity_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="A result older than this at the surgery's date expires."
    )
    # Results checked, not just recorded: outside [accept_min, accept_max] the item stays open with
    # the reason; outside [alert_min, alert_max] it is done but the nurse is alerted.
    result_accept_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    result_accept_max = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    result_alert_min = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    result_alert_max = models.DecimalField(max_digits=8, decimal_places=2, null=True, blank=True)
    thresholds_to_be_confirmed = models.BooleanField(default=False)
    clinic_policy = models.BooleanField(
        default=False,
        help_text="A test the clinic's policy asks for (not a guideline): each clinic may change its condition "
        "and validity window (Clinic test policies).",
    )
    loinc = models.CharField(max_length=20, blank=True)
    reminder_offsets_hours = models.JSONField(
        default=list, blank=True, help_text="Remind the assignee this many hours before the due time."
    )
    confirm_as = models.CharField(max_length=12, choices=ConfirmAs.choices, default=ConfirmAs.DONE)
    reminder_kind = models.CharField(max_length=8, choices=ReminderKind.choices, default=ReminderKind.TASK)
    show_time = models.CharField(max_length=12, choices=ShowTime.choices, default=ShowTime.DAY, blank=True)
    calendar = models.CharField(max_length=14, choices=CalendarEntry.choices, default=CalendarEntry.NONE, blank=True)
    source = models.TextField()
    sort_order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["template", "sort_order"]
        constraints = [models.UniqueConstraint(fields=["template", "code"], name="template_item_code_unique")]

    def __str__(self) -> str:
        return f"{self.code}: {self.title_en}"

    def clean(self) -> None:
        # An admin edit is checked by the same table as the catalogue file (prep.conditions).
        from django.core.exceptions import ValidationError

        from prep import conditions

        # ``age_band_in`` names the template's bands (none at hand: any name passes, as for regions).
        bands = tuple(b["slug"] for b in self.template.age_bands) if self.template_id else ()
        try:
            conditions.validate(self.conditions, age_bands=bands or None)
        except conditions.ConditionError as exc:
            raise ValidationError({"conditions": str(exc)}) from None


class HoldMode(models.TextChoices):
    NONE = "none", "No hold"
    HOLD = "hold", "Hold"
    SHARED = "shared", "Shared assessment"


class DrugFamily(models.TextChoices):
    ANTIPLATELET = "antiplatelet", "Antiplatelet"
    ANTICOAGULANT = "anticoagulant", "Anticoagulant"
    NSAID = "nsaid", "NSAID"
    SUPPLEMENT = "supplement", "Supplement or other medicine with a bleeding effect"
    GLP1 = "glp1", "GLP-1 receptor agonist"
    SGLT2 = "sglt2", "SGLT2 inhibitor"
    DIABETES = "diabetes", "Insulin or oral diabetes medicine"


# Families whose hold is about bleeding (the procedure's bleeding-risk class decides).
BLEEDING_FAMILIES = (DrugFamily.ANTIPLATELET, DrugFamily.ANTICOAGULANT, DrugFamily.NSAID, DrugFamily.SUPPLEMENT)


class Dosing(models.TextChoices):
    UNKNOWN = "", "—"
    DAILY = "daily", "Daily"
    WEEKLY = "weekly", "Weekly"


class Drug(PublicIdModel):
    """A medicine rule: one row per substance and, where it changes the rule, indication or dosing."""

    slug = models.SlugField(unique=True)
    substance = models.CharField(max_length=80, db_index=True)
    indication = models.CharField(max_length=20, blank=True)
    name = models.CharField(max_length=120)
    name_es = models.CharField(max_length=120, blank=True)
    aliases = models.JSONField(default=list, blank=True, help_text="Brand names, lower case.")
    drug_class = models.CharField(max_length=40)
    family = models.CharField(max_length=14, choices=DrugFamily.choices, default=DrugFamily.ANTICOAGULANT)
    dosing = models.CharField(max_length=8, choices=Dosing.choices, blank=True)
    anaesthesia_in = models.JSONField(
        default=list, blank=True, help_text="The rule applies only with these anaesthesia types (empty: always)."
    )
    suggested_hold_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Offered to the prescriber when the rule is a decision (e.g. GLP-1)."
    )
    hold_high = models.CharField(max_length=6, choices=HoldMode.choices)
    hold_high_hours = models.PositiveIntegerField(null=True, blank=True)
    hold_intermediate = models.CharField(max_length=6, choices=HoldMode.choices)
    hold_intermediate_hours = models.PositiveIntegerField(null=True, blank=True)
    hold_low = models.CharField(max_length=6, choices=HoldMode.choices)
    hold_low_hours = models.PositiveIntegerField(null=True, blank=True)
    renal_hold_hours = models.PositiveIntegerField(
        null=True, blank=True, help_text="Replaces the hold (when there is one) for impaired renal function."
    )
    renal_bands = models.JSONField(
        default=list,
        blank=True,
        help_text="Holds by creatinine clearance: [{crcl_below: mL/min, hours: N}], the lowest band that applies wins.",
    )
    restart_hours = models.PositiveIntegerField(null=True, blank=True)
    restart_by_risk = models.JSONField(default=dict, blank=True, help_text="Restart hours per bleeding-risk class.")
    restart_note = models.CharField(max_length=200, blank=True)
    needs_normal_inr = models.BooleanField(default=False)
    to_be_confirmed = models.BooleanField(
        default=False, help_text="Not verified from a primary source: the clinic must confirm it."
    )
    source = models.TextField()

    class Meta:
        ordering = ["substance", "indication"]

    def __str__(self) -> str:
        return self.name

    def hold_for(self, risk: str) -> tuple[str, int | None]:
        return getattr(self, f"hold_{risk}"), getattr(self, f"hold_{risk}_hours")

    def restart_for(self, risk: str) -> int:
        return int(self.restart_by_risk.get(risk) or self.restart_hours or 24)

    def renal_hold_for(self, crcl: int | None) -> int | None:
        """The hold in hours for this creatinine clearance, or None when no band applies."""
        if crcl is None:
            return None
        bands = sorted(self.renal_bands, key=lambda band: band["crcl_below"])
        return next((int(b["hours"]) for b in bands if crcl < b["crcl_below"]), None)

    @property
    def is_bleeding_rule(self) -> bool:
        return self.family in BLEEDING_FAMILIES


class KnownMedicine(PublicIdModel):
    """A medicine the dictionary recognises and that has no preparation rule (e.g. a statin)."""

    slug = models.SlugField(unique=True)
    name = models.CharField(max_length=120)
    aliases = models.JSONField(default=list, blank=True, help_text="Brand and other names, lower case.")
    drug_class = models.CharField(max_length=60)
    source = models.TextField()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ClinicTestPolicy(PublicIdModel):
    """One clinic's policy for a catalogue test: its condition, whether it is required, its validity.

    Blank fields keep the catalogue's default (the source document's list).
    """

    clinic = models.ForeignKey("patients.Clinic", on_delete=models.CASCADE, related_name="test_policies")
    code = models.CharField(max_length=60, help_text="The catalogue item's code, e.g. ecg.")
    enabled = models.BooleanField(default=True, help_text="Off: this clinic never asks for the test.")
    conditions = models.JSONField(
        null=True, blank=True, help_text="Replaces the catalogue's condition (same keys); blank keeps it."
    )
    required = models.BooleanField(null=True, blank=True)
    validity_days = models.PositiveIntegerField(null=True, blank=True)
    timing_option = models.CharField(
        max_length=40,
        blank=True,
        help_text="One of the item's timing options (e.g. children_1h for fasting_clear_liquids); blank: the "
        "catalogue's timing.",
    )
    note = models.TextField(blank=True, help_text="Why the clinic chose this (shown to staff).")

    class Meta:
        ordering = ["clinic", "code"]
        verbose_name_plural = "clinic test policies"
        constraints = [models.UniqueConstraint(fields=["clinic", "code"], name="clinic_test_policy_unique")]

    def __str__(self) -> str:
        return f"{self.clinic}: {self.code}"

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from prep import conditions

        if self.conditions is not None:
            try:
                conditions.validate(self.conditions)
            except conditions.ConditionError as exc:
                raise ValidationError({"conditions": str(exc)}) from None
        if self.timing_option:
            items = TemplateItem.objects.filter(code=self.code)
            options = sorted({name for item in items for name in item.timing_options})
            if self.timing_option not in options:
                raise ValidationError(
                    {"timing_option": f"{self.timing_option!r} is not a timing option of {self.code!r}: {options}."}
                )
            is_test = items.filter(clinic_policy=True).exists()
            changes_more = self.conditions is not None or self.required is not None or self.validity_days is not None
            if not is_test and (changes_more or not self.enabled):
                raise ValidationError(
                    {"code": f"{self.code!r} is not a test of the clinic's policy: only its timing option can change."}
                )
        elif not TemplateItem.objects.filter(code=self.code, clinic_policy=True).exists():
            raise ValidationError({"code": f"{self.code!r} is not a test of the catalogue's clinic policy."})


class ChecklistStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    CLOSED = "closed", "Closed"


class Checklist(PublicIdModel):
    surgery = models.OneToOneField("patients.Surgery", on_delete=models.CASCADE, related_name="checklist")
    template = models.ForeignKey(ChecklistTemplate, on_delete=models.PROTECT)
    catalogue_version = models.CharField(max_length=40)
    status = models.CharField(max_length=8, choices=ChecklistStatus.choices, default=ChecklistStatus.ACTIVE)
    closed_reason = models.CharField(max_length=200, blank=True)
    # Safety alerts from the last planning ({code, severity, message, source}), shown to staff.
    alerts = models.JSONField(default=list, blank=True)
    generated_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Checklist for {self.surgery}"


class Readiness:
    """A checklist's readiness states (``prep.selectors.readiness_compute`` decides which applies)."""

    READY = "ready"
    ON_TRACK = "on_track"
    AT_RISK = "at_risk"
    NOT_READY = "not_ready"
    # Board order: what needs a nurse first.
    RANK = {NOT_READY: 0, AT_RISK: 1, ON_TRACK: 2, READY: 3}
    LABELS = {READY: "Ready", ON_TRACK: "On track", AT_RISK: "At risk", NOT_READY: "Not ready"}


class ChecklistSummary(models.Model):
    """A checklist's readiness, stored so that lists filter, sort and page on columns.

    Written only by ``prep.services.checklist_summary_refresh`` (in the transaction of every item
    change) and ``readiness_refresh_due``, both from ``prep.selectors.readiness_compute``: never
    computed another way. Like healthchecks' ``alert_after``, ``changes_at`` is the first moment
    the clock alone changes a stored value (an item falls due, the escalation window or the
    go/no-go cut-off is reached); a reader re-evaluates rows whose ``changes_at`` has passed
    before it trusts them. Null: nothing changes until an item does.
    """

    checklist = models.OneToOneField(Checklist, on_delete=models.CASCADE, primary_key=True, related_name="summary")
    state = models.CharField(max_length=10, choices=[(k, v) for k, v in Readiness.LABELS.items()])
    rank = models.PositiveSmallIntegerField(help_text="Board order: 0 not ready … 3 ready.")
    required = models.PositiveIntegerField(default=0)
    done = models.PositiveIntegerField(default=0, help_text="Required items closed.")
    overdue = models.PositiveIntegerField(default=0, help_text="Required items open past their due time.")
    next_due_at = models.DateTimeField(null=True, blank=True, help_text="The earliest open item's due time.")
    changes_at = models.DateTimeField(null=True, blank=True, db_index=True)
    computed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "checklist summaries"

    def __str__(self) -> str:
        return f"{self.checklist_id}: {self.state}"


class ItemStatus(models.TextChoices):
    OPEN = "open", "Open"
    DONE = "done", "Done"
    NOT_APPLICABLE = "not_applicable", "Not applicable"
    PATIENT_CONFIRMED = "patient_confirmed", "Confirmed by patient"
    ACCEPTED = "accepted", "Accepted"


# States in which an item no longer needs anyone's action.
CLOSED_STATUSES = (ItemStatus.DONE, ItemStatus.NOT_APPLICABLE, ItemStatus.ACCEPTED)


class ChecklistItem(TrackedModel):
    checklist = models.ForeignKey(Checklist, on_delete=models.CASCADE, related_name="items")
    template_item = models.ForeignKey(TemplateItem, null=True, blank=True, on_delete=models.SET_NULL)
    drug = models.ForeignKey(Drug, null=True, blank=True, on_delete=models.PROTECT)
    medication = models.ForeignKey("patients.Medication", null=True, blank=True, on_delete=models.SET_NULL)
    drug_name = models.CharField(max_length=120, blank=True, help_text="Fills {drug} in the item's texts.")
    code = models.CharField(max_length=80)
    category = models.CharField(max_length=12, choices=Category.choices)
    assignee = models.CharField(max_length=10, choices=Assignee.choices)
    required = models.BooleanField(default=True)
    title = models.CharField(max_length=200)
    due_at = models.DateTimeField()
    # Hold items: the last dose and the restart, computed from the drug rule; shown to the
    # patient only once the prescriber has approved the hold.
    last_dose_at = models.DateTimeField(null=True, blank=True)
    restart_at = models.DateTimeField(null=True, blank=True)
    locked = models.BooleanField(default=False, help_text="Waiting for the prescriber's approval.")
    # Decision items: the hold length the prescriber set (kept and re-dated when the surgery moves).
    hold_hours = models.PositiveIntegerField(null=True, blank=True)
    # Why a recorded result keeps the item open, or what the nurse must know about it.
    result_flag = models.CharField(max_length=300, blank=True)
    reason = models.TextField()
    source = models.TextField()
    status = models.CharField(max_length=20, choices=ItemStatus.choices, default=ItemStatus.OPEN)
    result_value = models.CharField(max_length=200, blank=True)
    result_at = models.DateTimeField(null=True, blank=True, help_text="When the result was obtained.")
    completed_at = models.DateTimeField(null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    na_reason = models.CharField(max_length=300, blank=True)
    evidence = models.JSONField(default=dict, blank=True, help_text="What the patient confirmed.")
    confirmed_at = models.DateTimeField(null=True, blank=True)
    change_reason = models.CharField(max_length=300, blank=True)
    # Optimistic concurrency: a form carries the version it was loaded with.
    version = models.PositiveIntegerField(default=1)
    sort_order = models.PositiveIntegerField(default=0)

    history = HistoricalRecords(excluded_fields=["updated_at"])

    class Meta:
        ordering = ["due_at", "sort_order"]
        constraints = [models.UniqueConstraint(fields=["checklist", "code"], name="checklist_item_code_unique")]
        indexes = [models.Index(fields=["status", "due_at"])]

    def __str__(self) -> str:
        return f"{self.code} ({self.status})"

    @property
    def is_closed(self) -> bool:
        return self.status in CLOSED_STATUSES

    @property
    def tz(self) -> zoneinfo.ZoneInfo:
        return self.checklist.surgery.patient.clinic.tz
