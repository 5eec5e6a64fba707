from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from . import actions
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
    readonly_fields = ["decided_by", "decided_at"]

    @admin.action(description=_("Approve selected pending projects"))
    def approve(self, request, queryset):
        self._decide(request, queryset, lambda p: actions.approve_project(request.user, p))

    @admin.action(description=_("Reject selected pending projects"))
    def reject(self, request, queryset):
        reason = _("Rejected from the admin site.")
        self._decide(request, queryset, lambda p: actions.reject_project(request.user, p, str(reason)))

    def _decide(self, request, queryset, decide) -> None:
        for project in queryset:
            try:
                decide(project)
            except ValidationError as error:
                self.message_user(request, f"{project.slug}: {' '.join(error.messages)}", messages.ERROR)


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["at", "project", "actor", "verb", "message"]
    list_filter = ["verb"]
    search_fields = ["project__slug", "actor__username", "message"]
