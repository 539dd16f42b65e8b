"""The start page: my projects, recent visits, recordings still waiting for ingest."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from surveys.models import Project, Recording, Visit

RECENT_VISITS = 10


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.for_user(request.user).annotate(site_count=Count("sites", distinct=True))
    visits = (
        Visit.objects.for_user(request.user)
        .select_related("site__project")
        .annotate(recording_count=Count("recordings"))
        .order_by("-night", "-created_at")[:RECENT_VISITS]
    )
    waiting = Recording.objects.for_user(request.user).waiting().count()
    return render(
        request,
        "surveys/dashboard.html",
        {"projects": projects, "recent_visits": visits, "waiting_count": waiting},
    )
