from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Period, Quota


def _number(name: str, decimal_places: int | None = None, required: bool = True) -> forms.Field:
    label = Quota._meta.get_field(name).verbose_name
    if decimal_places is None:
        return forms.IntegerField(label=label, required=required)
    return forms.DecimalField(label=label, required=required, decimal_places=decimal_places)


class QuotaForm(forms.Form):
    """A site admin sets a project's quota; the action checks the values against the site's maxima."""

    max_gpus = _number("max_gpus")
    max_cpu = _number("max_cpu", 3)
    max_memory_mib = _number("max_memory_mib")
    max_running_jobs = _number("max_running_jobs")
    max_time_limit_minutes = _number("max_time_limit_minutes")
    gpu_hours_per_period = _number("gpu_hours_per_period", 2)
    cpu_hours_per_period = _number("cpu_hours_per_period", 2)
    period = forms.ChoiceField(label=_("period"), choices=Period.choices)
    reason = forms.CharField(
        label=_("Why"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded in the quota's history."),
    )


class ApprovalForm(forms.Form):
    """A site admin approves a project and sets its quota, prefilled with the site's default. A
    field left empty keeps the project's current value (the default it was registered with)."""

    max_gpus = _number("max_gpus", required=False)
    max_cpu = _number("max_cpu", 3, required=False)
    max_memory_mib = _number("max_memory_mib", required=False)
    max_running_jobs = _number("max_running_jobs", required=False)
    max_time_limit_minutes = _number("max_time_limit_minutes", required=False)
    gpu_hours_per_period = _number("gpu_hours_per_period", 2, required=False)
    cpu_hours_per_period = _number("cpu_hours_per_period", 2, required=False)
    period = forms.ChoiceField(label=_("period"), choices=Period.choices, required=False)
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", Quota.defaults())
        super().__init__(*args, **kwargs)

    def quota(self) -> dict:
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if name != "reason" and value not in (None, "")
        }


class QuotaRequestForm(forms.Form):
    """An owner asks for more: only the fields filled in are requested."""

    max_gpus = _number("max_gpus", required=False)
    max_cpu = _number("max_cpu", 3, required=False)
    max_memory_mib = _number("max_memory_mib", required=False)
    max_running_jobs = _number("max_running_jobs", required=False)
    max_time_limit_minutes = _number("max_time_limit_minutes", required=False)
    gpu_hours_per_period = _number("gpu_hours_per_period", 2, required=False)
    cpu_hours_per_period = _number("cpu_hours_per_period", 2, required=False)
    reason = forms.CharField(
        label=_("Why does the project need it?"), widget=forms.Textarea(attrs={"rows": 3})
    )

    def values(self) -> dict:
        return {
            name: value for name, value in self.cleaned_data.items() if name != "reason" and value is not None
        }


class DecisionForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class MemberCapForm(forms.Form):
    username = forms.CharField(label=_("Member"))
    max_gpus = forms.IntegerField(label=_("maximum concurrent GPUs"), required=False)
    max_running_jobs = forms.IntegerField(label=_("maximum running jobs"), required=False)


class PreviewForm(forms.Form):
    cpu = forms.DecimalField(label=_("CPU cores"), min_value=0, max_digits=7, decimal_places=3, initial=1)
    memory_mib = forms.IntegerField(label=_("memory (MiB)"), min_value=0, initial=2048)
    gpus = forms.IntegerField(label=_("GPUs"), min_value=0, initial=0)
    time_limit_minutes = forms.IntegerField(label=_("time limit (minutes)"), min_value=1, initial=60)
