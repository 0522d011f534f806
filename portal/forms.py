"""Portal forms: every field labelled, every error naming what is wrong, in the patient's language."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from portal.formatting import local_when


class PortalForm(forms.Form):
    """Large, labelled controls (the CSS gives them at least 44 px of height)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            css = "portal-checkbox" if getattr(widget, "input_type", "") == "checkbox" else "portal-input"
            if isinstance(widget, forms.Select):
                css = "portal-select"
            widget.attrs["class"] = (widget.attrs.get("class", "") + " " + css).strip()


class ContactForm(PortalForm):
    contact = forms.CharField(
        label=_("Your email address or mobile number"),
        max_length=254,
        widget=forms.TextInput(attrs={"autocomplete": "email", "inputmode": "email", "autocapitalize": "none"}),
        help_text=_("Use the one you gave the clinic."),
    )


MONTHS = [
    (1, _("January")),
    (2, _("February")),
    (3, _("March")),
    (4, _("April")),
    (5, _("May")),
    (6, _("June")),
    (7, _("July")),
    (8, _("August")),
    (9, _("September")),
    (10, _("October")),
    (11, _("November")),
    (12, _("December")),
]


class BirthDateForm(PortalForm):
    """Day, month and year as separate fields: easier than a date picker for a birth date."""

    day = forms.IntegerField(
        label=_("Day"), min_value=1, max_value=31, widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 2})
    )
    month = forms.TypedChoiceField(label=_("Month"), choices=[("", "—"), *MONTHS], coerce=int)
    year = forms.IntegerField(
        label=_("Year"),
        min_value=1900,
        max_value=2100,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 4}),
    )

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data  # what Form.clean returns; the stub allows None for overrides
        if self.errors:
            return data
        try:
            data["birth_date"] = dt.date(data["year"], data["month"], data["day"])
        except (KeyError, TypeError, ValueError):
            raise forms.ValidationError(_("This date does not exist. Check the day, month and year.")) from None
        if data["birth_date"] > timezone.localdate():
            raise forms.ValidationError(_("Your date of birth cannot be in the future."))
        return data


class GuardianBirthDateForm(BirthDateForm):
    """A guardian's link: the patient's date of birth, and the guardian's own year of birth."""

    guardian_year = forms.IntegerField(
        label=_("Your own year of birth"),
        min_value=1900,
        max_value=2100,
        help_text=_("Yours, not your child's. For example: 1985"),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "size": 4}),
    )


class ConfirmForm(PortalForm):
    """Base of the evidence forms; ``tz`` is the patient's zone, ``language`` theirs.

    ``for_name``: a parent or guardian confirms for this person (the patient's first name); the
    labels then speak of them rather than of "you".
    """

    kind = "done"
    # The label of the form's one field when a guardian confirms: a format with %(name)s.
    for_label: Any = None

    def __init__(
        self,
        *args: Any,
        tz: zoneinfo.ZoneInfo,
        language: str,
        planned_at: dt.datetime | None = None,
        for_name: str = "",
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.tz = tz
        self.language = language
        # The planned last dose or fasting start: evidence later than it is flagged for the nurse.
        self.planned_at = planned_at
        if for_name and self.for_label is not None:
            only = next(iter(self.fields.values()))
            only.label = self.for_label % {"name": for_name}

    def evidence(self) -> dict[str, Any]:
        return {"kind": self.kind}


class DoneConfirmForm(ConfirmForm):
    done = forms.BooleanField(label=_("I have done this"), required=True)

    def evidence(self) -> dict[str, Any]:
        return {"kind": "done", "done": True}


class RideConfirmForm(ConfirmForm):
    kind = "ride"
    ride_arranged = forms.BooleanField(label=_("I have arranged for an adult to take me home"), required=True)
    for_label = _("An adult will take %(name)s home")

    def evidence(self) -> dict[str, Any]:
        return {"kind": "ride", "ride_arranged": True}


class LastDoseConfirmForm(ConfirmForm):
    kind = "last_dose"
    for_label = _("Date of the last dose %(name)s took")
    last_dose_date = forms.DateField(
        label=_("Date of your last dose"),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        input_formats=["%Y-%m-%d"],
    )
    MAX_DAYS_AGO = 60

    def clean_last_dose_date(self) -> dt.date:
        value = self.cleaned_data["last_dose_date"]
        today = timezone.now().astimezone(self.tz).date()
        if value > today:
            raise forms.ValidationError(_("The date of your last dose cannot be in the future."))
        if value < today - dt.timedelta(days=self.MAX_DAYS_AGO):
            raise forms.ValidationError(
                _("This date is more than %(days)s days ago. Check it, or call the clinic.")
                % {"days": self.MAX_DAYS_AGO}
            )
        return value

    def evidence(self) -> dict[str, Any]:
        value = self.cleaned_data["last_dose_date"]
        evidence: dict[str, Any] = {"kind": "last_dose", "last_dose_date": value.isoformat()}
        if self.planned_at is not None:
            planned = self.planned_at.astimezone(self.tz).date()
            evidence["later_than_planned"] = value > planned
            # Stopping early matters too: off the drug longer than the prescriber decided.
            evidence["earlier_than_planned"] = value < planned
            evidence["days_from_plan"] = (value - planned).days
        return evidence


class LastIntakeConfirmForm(ConfirmForm):
    """The time of the last meal (or drink): in the patient's own time zone, not in the future."""

    kind = "last_meal"
    field_label = _("When did you last eat?")
    for_label = _("When did %(name)s last eat?")
    at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    MAX_HOURS_AGO = 48
    # A phone's clock may run a little ahead of the server's.
    SKEW = dt.timedelta(minutes=5)

    def __init__(self, *args: Any, for_name: str = "", **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["at"].label = self.for_label % {"name": for_name} if for_name else self.field_label

    def clean_at(self) -> dt.datetime:
        value = self.cleaned_data["at"]
        # The browser sends a wall-clock time: read it in the patient's zone, whatever the server's.
        local = value.replace(tzinfo=None) if timezone.is_aware(value) else value
        aware = local.replace(tzinfo=self.tz)
        now = timezone.now()
        if aware > now + self.SKEW:
            raise forms.ValidationError(_("This time is in the future. Give the time you last ate or drank."))
        if aware < now - dt.timedelta(hours=self.MAX_HOURS_AGO):
            raise forms.ValidationError(_("This time is more than two days ago. Check the date."))
        return aware

    def evidence(self) -> dict[str, Any]:
        at = self.cleaned_data["at"]
        key = "last_meal_at" if self.kind == "last_meal" else "last_drink_at"
        evidence: dict[str, Any] = {
            "kind": self.kind,
            key: at.astimezone(dt.UTC).isoformat(),
            "local": local_when(at, tz=self.tz, language="en"),
        }
        if self.planned_at is not None:
            evidence["later_than_planned"] = at > self.planned_at
        return evidence


class LastDrinkConfirmForm(LastIntakeConfirmForm):
    kind = "last_drink"
    field_label = _("When did you last drink?")
    for_label = _("When did %(name)s last drink?")


CONFIRM_FORMS: dict[str, type[ConfirmForm]] = {
    "done": DoneConfirmForm,
    "ride": RideConfirmForm,
    "last_dose": LastDoseConfirmForm,
    "last_meal": LastIntakeConfirmForm,
    "last_drink": LastDrinkConfirmForm,
}


class ChannelsForm(PortalForm):
    email = forms.BooleanField(label=_("Email"), required=False)
    sms = forms.BooleanField(label=_("Text messages (SMS)"), required=False)


class LanguageForm(forms.Form):
    language = forms.ChoiceField(choices=settings.LANGUAGES)
    next = forms.CharField(required=False, max_length=300)


class StaffSendForm(forms.Form):
    channel = forms.ChoiceField(choices=[("email", "Email"), ("sms", "SMS")])
    # The guardian the link goes to (their public id); blank: the patient.
    guardian = forms.UUIDField(required=False)
    next = forms.CharField(required=False, max_length=300)
