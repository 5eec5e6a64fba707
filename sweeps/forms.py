"""The browser's sweep form: the same definition as a sweep file (YAML or JSON), the project
taken from the page. Its errors are the API's, one per field, shown beside the text."""

import yaml
from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .definition import Definition, check_sweep

EXAMPLE = """name: lr-search
image: python:3.11-slim
command: [python, -m, examples.train, --epochs, "3", --learning-rate, "{lr}"]
resources: {cpu: 1, memory_mib: 1024}
space:
  lr: {type: log_uniform, low: 0.001, high: 0.3}
algorithm: tpe
objective: test_accuracy
direction: maximize
max_trials: 20
max_parallel: 2
"""
GROUPED = ("resources",)


class SweepForm(forms.Form):
    definition = forms.CharField(
        label=gettext_lazy("Sweep definition (YAML or JSON)"),
        widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "code"}),
        max_length=50_000,
        help_text=gettext_lazy(
            "A job spec with placeholders like {lr} in its command or environment, a space with each "
            "placeholder's range (float, log_uniform, int) or choices (categorical), an algorithm "
            "(grid, random, tpe), the objective metric, its direction, max_trials and max_parallel; "
            "prune: true stops trials worse than the median of earlier ones."
        ),
    )

    def __init__(self, *args, user, project, **kwargs):
        super().__init__(*args, **kwargs)
        self.user, self.project = user, project
        self.definition: Definition | None = None
        self.field_errors: dict[str, str] = {}

    def clean_definition(self) -> str:
        text = self.cleaned_data["definition"]
        try:
            raw = yaml.safe_load(text)
        except yaml.YAMLError as error:
            raise ValidationError(_("This is not YAML or JSON: %(error)s") % {"error": error}) from error
        if not isinstance(raw, dict):
            raise ValidationError(_("A sweep is a mapping of fields (name, command, space ...)."))
        raw.pop("project", None)  # the page's project
        for group in GROUPED:
            nested = raw.pop(group, None) or {}
            if not isinstance(nested, dict):
                raise ValidationError(_("%(group)s is a mapping.") % {"group": group})
            raw |= nested
        try:
            self.definition = check_sweep(self.user, self.project, **raw)
        except ValidationError as error:
            self.field_errors = {field: " ".join(messages) for field, messages in error.message_dict.items()}
            raise ValidationError(_("The sweep has problems; each is listed by its field.")) from error
        return text
