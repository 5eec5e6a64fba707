from django.contrib import admin

from .models import Job, JobTemplate, JobTransition


@admin.register(JobTemplate)
class JobTemplateAdmin(admin.ModelAdmin):
    """Site admins curate the templates that prefill the job form."""

    list_display = [
        "title",
        "project",
        "image",
        "cpu",
        "memory_mib",
        "gpus",
        "time_limit_minutes",
        "is_active",
    ]
    list_filter = ["is_active"]
    raw_id_fields = ["project", "created_by"]
    search_fields = ["title", "description", "image"]


class JobTransitionInline(admin.TabularInline):
    model = JobTransition
    extra = 0
    can_delete = False
    readonly_fields = ["from_status", "to_status", "reason", "at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    """Read-only: jobs change state only through the portal's actions."""

    list_display = ["id", "name", "project", "submitter", "status", "created_at"]
    list_filter = ["status", "backend"]
    search_fields = ["name", "project__slug", "submitter__username", "mlflow_run_id"]
    list_select_related = ["project", "submitter"]
    exclude = ["env"]
    inlines = [JobTransitionInline]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
