"""The project's git credential and DVC remote pages: anyone who sees the project sees whether it
has them and who set them; owners set (replace) or remove them. Secret values are never put back
on a page."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from portal.forms import apply_errors
from portal.projects.access import Need, can, check, get_project_for_user

from . import actions, remotes
from .models import DvcRemote, SourceCredential


class CredentialForm(forms.Form):
    username = forms.CharField(
        label=gettext_lazy("User name"),
        required=False,
        max_length=200,
        help_text=gettext_lazy(
            "The token's user name, if the forge needs one (e.g. a GitLab deploy token's)."
        ),
    )
    token = forms.CharField(
        label=gettext_lazy("Deploy token (https)"),
        required=False,
        widget=forms.PasswordInput(render_value=False),
    )
    ssh_key = forms.CharField(
        label=gettext_lazy("Deploy key (ssh): its private key"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off"}),
        help_text=gettext_lazy("Give a token or a key. Stored encrypted; never shown again."),
    )


@login_required
def credential(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = CredentialForm()
    if request.method == "POST":
        check(request.user, project, Need.MANAGE)
        if "remove" in request.POST:
            actions.clear_credential(request.user, project)
            messages.success(request, _("The project's git credential was removed."))
            return redirect("clusterjobs:git-credential", slug=project.slug)
        form = CredentialForm(request.POST)
        if form.is_valid():
            try:
                actions.set_credential(request.user, project, **form.cleaned_data)
            except forms.ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("The project's git credential was saved."))
                return redirect("clusterjobs:git-credential", slug=project.slug)
    context = {
        "project": project,
        "current": SourceCredential.objects.filter(project=project).select_related("set_by").first(),
        "can_manage": can(request.user, project, Need.MANAGE),
        "form": form,
    }
    return render(request, "clusterjobs/git_credential.html", context)


class DvcRemoteForm(forms.Form):
    kind = forms.ChoiceField(label=gettext_lazy("Kind"), choices=DvcRemote.Kind.choices)
    url = forms.CharField(
        label=gettext_lazy("Address"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "s3://bucket/prefix"}),
        help_text=gettext_lazy(
            "s3://bucket/prefix for a bucket, an absolute path for a shared folder; empty for the portal's own folder."
        ),
    )
    endpoint_url = forms.CharField(
        label=gettext_lazy("Endpoint (S3-compatible server)"),
        required=False,
        max_length=500,
        widget=forms.TextInput(attrs={"placeholder": "https://s3.example.edu"}),
        help_text=gettext_lazy("Empty for AWS."),
    )
    access_key_id = forms.CharField(
        label=gettext_lazy("Access key id"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
    )
    secret_access_key = forms.CharField(
        label=gettext_lazy("Secret access key"),
        required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=gettext_lazy(
            "Stored encrypted; only the pull step gets them, and nobody can read them back."
        ),
    )


@login_required
def dvc_remote(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    form = DvcRemoteForm()
    if request.method == "POST":
        check(request.user, project, Need.MANAGE)
        if "remove" in request.POST:
            remotes.clear_remote(request.user, project)
            messages.success(request, _("The project's DVC remote was removed."))
            return redirect("clusterjobs:dvc-remote", slug=project.slug)
        form = DvcRemoteForm(request.POST)
        if form.is_valid():
            try:
                remotes.set_remote(request.user, project, **form.cleaned_data)
            except forms.ValidationError as error:
                apply_errors(form, error)
            else:
                messages.success(request, _("The project's DVC remote was saved."))
                return redirect("clusterjobs:dvc-remote", slug=project.slug)
    context = {
        "project": project,
        "current": DvcRemote.objects.filter(project=project).select_related("set_by", "project").first(),
        "can_manage": can(request.user, project, Need.MANAGE),
        "form": form,
    }
    return render(request, "clusterjobs/dvc_remote.html", context)
