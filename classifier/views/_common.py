"""Helpers shared by the classifier views (keyword-only, no mixins)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect
from django.utils.http import url_has_allowed_host_and_scheme

from classifier.models import Analysis
from surveys.models import Recording

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

HTMX_STOP_POLLING = 286
# Client-side events (HX-Trigger): a re-queue makes the progress bar look again, and the progress bar tells
# the table to refresh when its counts changed.
EVENT_ANALYSES_QUEUED = "analyses-queued"
EVENT_ANALYSES_PROGRESSED = "analyses-progressed"


def get_analysis_for_user(user: AbstractBaseUser | AnonymousUser, pk: int) -> Analysis:
    """An analysis of a recording the user may see; 404 for anything else."""
    visible = Analysis.objects.filter(recording__in=Recording.objects.for_user(user))
    return get_object_or_404(
        visible.select_related("recording__visit__site__project", "model_version"), pk=pk
    )


def redirect_back(request: HttpRequest, *, fallback: str) -> HttpResponseRedirect:
    """To `next` (a local URL only) or the fallback URL."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(target)
    return redirect(fallback)
