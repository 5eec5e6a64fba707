"""The notifications page of a project: your own choice of emails; for owners, the project's
webhooks with their latest deliveries, a form to add one, "send a test" and delete."""

from datetime import timedelta

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop
from django.views.decorators.http import require_POST

from portal.forms import apply_errors
from portal.projects.access import Need, can, check, get_project_for_user

from . import notify
from .models import NotificationChoice, Webhook

OWNERS_ONLY = gettext_noop("Only owners of the project manage its webhooks.")


class ChoiceForm(forms.ModelForm):
    wait_minutes = forms.IntegerField(
        label=gettext_lazy("when one waits longer than (minutes)"),
        help_text=gettext_lazy(
            "Queued or pending admission; told once, by email and the project's webhooks. Empty: never."
        ),
        required=False,
        min_value=1,
        max_value=60 * 24 * 7,
    )

    class Meta:
        model = NotificationChoice
        fields = ["on_end", "on_failure"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.wait_longer_than is not None:
            self.initial["wait_minutes"] = int(self.instance.wait_longer_than.total_seconds() // 60)


class WebhookForm(forms.ModelForm):
    url = forms.URLField(label=gettext_lazy("URL"), max_length=500, assume_scheme="https")

    class Meta:
        model = Webhook
        fields = ["url", "kind", "only_failures"]


@login_required
def notifications(request: HttpRequest, slug: str) -> HttpResponse:
    project = get_project_for_user(request.user, slug)
    owner = can(request.user, project, Need.MANAGE)
    choice = NotificationChoice.objects.filter(user=request.user, project=project).first()
    choice_form = ChoiceForm(instance=choice or NotificationChoice(user=request.user, project=project))
    webhook_form = WebhookForm()
    if request.method == "POST" and request.POST.get("form") == "choice":
        choice_form = ChoiceForm(request.POST, instance=choice_form.instance)
        if choice_form.is_valid():
            data = choice_form.cleaned_data
            minutes = data["wait_minutes"]
            notify.set_choice(
                request.user,
                project,
                on_end=data["on_end"],
                on_failure=data["on_failure"],
                wait_longer_than=timedelta(minutes=minutes) if minutes else None,
            )
            messages.success(request, _("Your notification choice is saved."))
            return redirect("pipelines:notifications", project.slug)
    elif request.method == "POST":
        check(request.user, project, Need.MANAGE, _(OWNERS_ONLY))
        webhook_form = WebhookForm(request.POST)
        if webhook_form.is_valid():
            data = webhook_form.cleaned_data
            try:
                webhook = notify.add_webhook(
                    request.user, project, data["url"], data["kind"], data["only_failures"]
                )
            except ValidationError as error:
                apply_errors(webhook_form, error)
            else:
                if webhook.secret:
                    messages.success(
                        request,
                        _("Webhook added. Its signing secret, shown once: %(secret)s")
                        % {"secret": webhook.secret},
                    )
                return redirect("pipelines:notifications", project.slug)
    webhooks = list(project.webhooks.prefetch_related("deliveries").order_by("pk")) if owner else []
    for webhook in webhooks:
        webhook.latest = list(webhook.deliveries.all())[:5]
    context = {
        "project": project,
        "owner": owner,
        "choice_form": choice_form,
        "webhook_form": webhook_form,
        "webhooks": webhooks,
    }
    return render(request, "pipelines/notifications.html", context)


@login_required
@require_POST
def webhook_action(request: HttpRequest, pk: int, verb: str) -> HttpResponse:
    webhook = get_object_or_404(Webhook.objects.select_related("project"), pk=pk)
    get_project_for_user(request.user, webhook.project.slug)
    check(request.user, webhook.project, Need.MANAGE, _(OWNERS_ONLY))
    if verb == "test":
        notify.test_delivery(request.user, webhook)
        messages.success(request, _("A test notification is on its way; its outcome shows below."))
    else:
        notify.delete_webhook(request.user, webhook)
    return redirect("pipelines:notifications", webhook.project.slug)
