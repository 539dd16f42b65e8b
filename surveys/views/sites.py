"""Site pages: one site with its visits (every member), creating and editing sites (managers)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from surveys.access import get_project_for_user, get_site_for_user
from surveys.forms import SiteForm
from surveys.models import RecordingStatus, Role, Site


@login_required
@require_GET
def site_detail(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    visits = site.visits.select_related("created_by").annotate(
        recording_count=Count("recordings"),
        waiting_count=Count("recordings", filter=Q(recordings__status=RecordingStatus.UPLOADED)),
    )
    return render(
        request,
        "surveys/site_detail.html",
        {
            "site": site,
            "project": site.project,
            "visits": visits,
            "is_manager": site.project.user_has_role(request.user, Role.MANAGER),
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def site_create(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id, minimum_role=Role.MANAGER)
    form = SiteForm(request.POST or None, instance=Site(project=project), project=project)
    if request.method == "POST" and form.is_valid():
        site = form.save()
        messages.success(request, _("Site %(site)s created.") % {"site": site})
        return redirect("site_detail", site_id=site.pk)
    context = {"form": form, "project": project, "site": None}
    return render(request, "surveys/site_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def site_edit(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id, minimum_role=Role.MANAGER)
    form = SiteForm(request.POST or None, instance=site, project=site.project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Site saved."))
        return redirect("site_detail", site_id=site.pk)
    context = {"form": form, "project": site.project, "site": site}
    return render(request, "surveys/site_form.html", context, status=400 if form.errors else 200)
