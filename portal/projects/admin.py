from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from . import actions
from .forms import RejectForm
from .models import AuditEvent, Membership, Project


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Project)
class ProjectAdmin(admin.ModelAdmin):
    list_display = ["slug", "name", "status", "principal_investigator", "requested_by", "created_at"]
    list_filter = ["status"]
    search_fields = ["slug", "name", "principal_investigator"]
    inlines = [MembershipInline]
    actions = ["approve", "reject"]
    # Decisions go through the approve/reject actions (audited), not through editing the status.
    readonly_fields = ["status", "decision_reason", "decided_by", "decided_at", "requested_by"]

    @admin.action(description=_("Approve selected pending projects"))
    def approve(self, request, queryset):
        self._decide(request, queryset, lambda p: actions.approve_project(request.user, p))

    @admin.action(description=_("Reject selected pending projects"))
    def reject(self, request, queryset):
        """Asks for the reason first (an intermediate page), then rejects with it."""
        form = RejectForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            reason = form.cleaned_data["reason"]
            self._decide(request, queryset, lambda p: actions.reject_project(request.user, p, reason))
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Reject projects"),
            "opts": self.model._meta,
            "projects": queryset,
            "form": form,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/projects/project/reject.html", context)

    def _decide(self, request, queryset, decide) -> None:
        done = 0
        for project in queryset:
            try:
                decide(project)
            except ValidationError as error:
                self.message_user(request, f"{project.slug}: {' '.join(error.messages)}", messages.ERROR)
            else:
                done += 1
        if done:
            message = ngettext("%(count)d project decided.", "%(count)d projects decided.", done)
            self.message_user(request, message % {"count": done}, messages.SUCCESS)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, superusers included: an audit log that its readers can edit proves
    nothing. Events are written only by the portal's actions (``actions.record``)."""

    list_display = ["at", "project", "actor_name", "kind", "verb", "target", "message"]
    list_filter = ["kind", "verb"]
    search_fields = ["project__slug", "actor_name", "target", "message"]
    list_select_related = ["project"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
