"""Site admins set quotas in the Django admin too; every save goes through actions.update_quota,
so it is validated and recorded (who, when, why, before and after) like a change on the portal."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from portal.forms import apply_errors

from . import actions
from .models import QUOTA_FIELDS, MemberCap, Quota, QuotaChange, QuotaRequest


class QuotaAdminForm(forms.ModelForm):
    reason = forms.CharField(
        label=_("Why"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Recorded in the quota's history."),
    )

    class Meta:
        model = Quota
        fields = [*QUOTA_FIELDS]

    def clean(self):
        cleaned = super().clean()
        values = {name: cleaned[name] for name in QUOTA_FIELDS if name in cleaned}
        try:
            actions.clean_values(values)
        except ValidationError as error:
            apply_errors(self, error)
        return cleaned


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    form = QuotaAdminForm
    list_display = [
        "project",
        "max_gpus",
        "max_cpu",
        "max_memory_mib",
        "max_running_jobs",
        "gpu_hours_per_period",
        "cpu_hours_per_period",
        "period",
        "updated_at",
    ]
    list_filter = ["period"]
    search_fields = ["project__slug", "project__name"]
    list_select_related = ["project"]

    def has_add_permission(self, request) -> bool:
        return False  # every project gets its quota when it is registered

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def save_model(self, request, obj, form, change) -> None:
        values = {name: form.cleaned_data[name] for name in form.changed_data if name in QUOTA_FIELDS}
        if not values:
            messages.info(request, _("No value changed."))
            return
        actions.update_quota(request.user, obj.project, form.cleaned_data["reason"], **values)


@admin.register(QuotaChange)
class QuotaChangeAdmin(admin.ModelAdmin):
    list_display = ["project", "at", "actor", "reason"]
    search_fields = ["project__slug", "reason"]
    list_select_related = ["project", "actor"]
    readonly_fields = ["project", "actor", "at", "reason", "old_values", "new_values", "request"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # the quota's history, like the audit log, is kept as written


@admin.register(QuotaRequest)
class QuotaRequestAdmin(admin.ModelAdmin):
    """Read-only here: decisions are taken on the project's quota page, where they are recorded."""

    list_display = ["project", "requested_by", "requested_at", "status", "decided_by"]
    list_filter = ["status"]
    search_fields = ["project__slug", "reason"]
    list_select_related = ["project", "requested_by", "decided_by"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MemberCap)
class MemberCapAdmin(admin.ModelAdmin):
    list_display = ["membership", "max_gpus", "max_running_jobs"]
    search_fields = ["membership__project__slug", "membership__user__username"]
    list_select_related = ["membership__project", "membership__user"]
