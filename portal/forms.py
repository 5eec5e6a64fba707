"""What every app's forms share."""

from django import forms
from django.core.exceptions import ValidationError

from portal.errors import ServiceUnavailable


def apply_errors(form: forms.BaseForm, error: ValidationError | ServiceUnavailable) -> None:
    """Put an action's refusal on the form: a ValidationError on its field where the form has one,
    a service that is down on the form as a whole (the form keeps what was typed)."""
    if isinstance(error, ServiceUnavailable):
        form.add_error(None, str(error))
    elif hasattr(error, "error_dict"):
        for field, errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, error.messages)
