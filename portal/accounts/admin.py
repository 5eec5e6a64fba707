from django.contrib import admin
from django.contrib.auth.admin import UserAdmin

from .models import ApiToken, ExternalIdentity, User


class ExternalIdentityInline(admin.TabularInline):
    """Single sign-on identities bound to the user; a site admin adds one to link a staff account."""

    model = ExternalIdentity
    extra = 0
    fields = ["issuer", "subject", "created_at", "last_login_at"]
    readonly_fields = ["created_at", "last_login_at"]


@admin.register(User)
class TallerUserAdmin(UserAdmin):
    inlines = [ExternalIdentityInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "project", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "user__username", "prefix"]
    readonly_fields = ["prefix", "key_hash"]
