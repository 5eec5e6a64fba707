from django import forms
from django.utils.translation import gettext_lazy as _


class DeploymentForm(forms.Form):
    """The page's form: what ``actions.create_deployment`` checks (per field)."""

    name = forms.CharField(label=_("Name"), max_length=40, help_text=_("Part of the serving URL."))
    model = forms.CharField(label=_("Registered model"), max_length=200)
    version = forms.CharField(label=_("Version"), max_length=20, required=False)
    alias = forms.CharField(
        label=_("Or follow the alias"),
        max_length=200,
        required=False,
        help_text=_("The version moves with it."),
    )
    replicas = forms.IntegerField(label=_("Replicas"), initial=1, min_value=1)
    cpu = forms.DecimalField(label=_("CPU cores per replica"), initial=1, max_digits=6, decimal_places=2)
    memory_mib = forms.IntegerField(label=_("Memory per replica (MiB)"), initial=1024)
    gpus = forms.IntegerField(label=_("GPUs per replica"), initial=0, min_value=0)


class VersionForm(forms.Form):
    """Shown as one compact row on the deployment's page: each field names itself (aria-label)."""

    version = forms.CharField(
        label=_("Version"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"aria-label": _("Version"), "placeholder": _("Version")}),
    )
    alias = forms.CharField(
        label=_("Or follow the alias"),
        max_length=200,
        required=False,
        widget=forms.TextInput(
            attrs={"aria-label": _("Or follow the alias"), "placeholder": _("Or follow the alias")}
        ),
    )


class ScaleForm(forms.Form):
    replicas = forms.IntegerField(
        label=_("Replicas"), min_value=1, widget=forms.NumberInput(attrs={"aria-label": _("Replicas")})
    )


class SamplingForm(forms.Form):
    fraction = forms.FloatField(
        label=_("Share of calls kept"),
        min_value=0,
        max_value=1,
        widget=forms.NumberInput(attrs={"aria-label": _("Share of calls kept"), "step": "any"}),
    )
    retention_days = forms.IntegerField(
        label=_("Days kept"), min_value=1, widget=forms.NumberInput(attrs={"aria-label": _("Days kept")})
    )
