from django.contrib import admin

from .models import Quota


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["project", "max_gpus", "max_cpu", "max_memory_mib", "max_running_jobs", "period"]
    search_fields = ["project__slug", "project__name"]
