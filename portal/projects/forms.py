from django import forms
from django.utils.translation import gettext_lazy as _

from .models import Project, Role


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = [
            "name",
            "slug",
            "description",
            "principal_investigator",
            "field_of_research",
            "expected_needs",
        ]
        help_texts = {
            "slug": _("Short name for URLs, the cluster namespace and MLflow: e.g. protein-folding.")
        }
        widgets = {
            "description": forms.Textarea(attrs={"rows": 3}),
            "expected_needs": forms.Textarea(attrs={"rows": 3}),
        }

    def validate_unique(self) -> None:
        # Uniqueness is checked (under the transaction) by register_project, with its own message.
        pass


class MemberForm(forms.Form):
    user = forms.CharField(label=_("Username or email"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices, initial=Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(label=_("Role"), choices=Role.choices)


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2}))
