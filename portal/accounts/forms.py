import datetime
import zoneinfo

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def end_of(day: datetime.date) -> datetime.datetime:
    """The moment a token that "expires on" ``day`` stops working: the end of that day, here."""
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time()))


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Token name"), max_length=100, help_text=_("For example: laptop, notebook.")
    )
    expires_on = forms.DateField(
        label=_("Expires on"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
        help_text=_("Optional: the token stops working at the end of this day."),
    )
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=None,
        required=False,
        to_field_name="slug",
        empty_label=_("All my projects"),
        help_text=_("Optional: the token reaches this project alone, in the API and in MLflow."),
    )

    def __init__(self, *args, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects.order_by("name") if projects is not None else None

    def clean_expires_on(self) -> datetime.date | None:
        day = self.cleaned_data["expires_on"]
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError(_("Choose today or a later day."))
        return day

    def token_kwargs(self) -> dict:
        day = self.cleaned_data["expires_on"]
        return {
            "name": self.cleaned_data["name"],
            "scope": self.cleaned_data["project"],
            "expires_at": end_of(day) if day else None,
        }


def zone_choices() -> list[tuple[str, str]]:
    site = settings.TIME_ZONE
    names = sorted(zoneinfo.available_timezones())
    return [("", _("The site's (%(zone)s)") % {"zone": site})] + [(name, name) for name in names]


class TimeZoneForm(forms.Form):
    time_zone = forms.ChoiceField(
        label=_("Time zone"),
        required=False,
        help_text=_("The pages show dates and times in this time zone."),
    )

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["time_zone"].choices = zone_choices()
