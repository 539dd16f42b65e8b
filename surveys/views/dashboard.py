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
    recent = Visit.objects.for_user(request.user).select_related("site__project")
    visits = list(recent.order_by("-night", "-created_at")[:RECENT_VISITS])
    # Counted for the ten shown only: annotating before the LIMIT counts every recording the user can see.
    counts = dict(
        Recording.objects.filter(visit__in=visits).order_by().values_list("visit").annotate(n=Count("pk"))
    )
    for visit in visits:
        visit.recording_count = counts.get(visit.pk, 0)
    waiting = Recording.objects.for_user(request.user).waiting().count()
    return render(
        request,
        "surveys/dashboard.html",
        {"projects": projects, "recent_visits": visits, "waiting_count": waiting},
    )
