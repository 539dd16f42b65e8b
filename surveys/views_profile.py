"""The profile page: the user's own API tokens (issue 9).

A new key is shown once, in the answer to the POST that made it, and is never stored or shown again (the
page answers `Cache-Control: no-store` so the browser does not keep it either). Revoking is a POST.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods, require_POST

from surveys.tokens import api_token_create, api_token_revoke


class ApiTokenForm(forms.Form):
    name = forms.CharField(
        label=capfirst(gettext_lazy("name")),
        max_length=100,
        help_text=gettext_lazy("What the token is for, e.g. “field laptop” or “upload script”."),
    )


@login_required
@require_http_methods(["GET", "POST"])
def profile(request: HttpRequest) -> HttpResponse:
    form = ApiTokenForm(request.POST or None)
    new_key = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                _token, new_key = api_token_create(user=request.user, name=form.cleaned_data["name"])
                form = ApiTokenForm()
            except ValidationError as exc:
                form.add_error(None, exc)
                status = 400
        else:
            status = 400
    context = {
        "form": form,
        "new_key": new_key,
        "tokens": request.user.api_tokens.all(),
        "api_docs_url": reverse("api-v1:openapi-view"),
        "site_url": request.build_absolute_uri("/"),
    }
    response = render(request, "surveys/profile.html", context, status=status)
    add_never_cache_headers(response)  # the new key must not sit in a cache
    return response


@login_required
@require_POST
def api_token_revoke_view(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_revoke(user=request.user, token_id=token_id)
    messages.success(
        request, _("The token “%(name)s” is revoked; scripts using it get 401 now.") % {"name": token.name}
    )
    return redirect("profile")
