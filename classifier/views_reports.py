"""Report pages and downloads (issue 8): the site report, CSVs per site, visit and project, PNG plots,
protocol checks of visits and sites (pages and the fragments their pages load), sensitive species.

Every member may see reports and download them (ARCHITECTURE.md, roles); outsiders get 404 through the
surveys.access lookups. Only managers mark species sensitive, and exports for everyone else round the
coordinates of sites where such a species was noted (classifier.reports.sensitive).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier.models import SensitiveSpecies
from classifier.reports import plots, protocol
from classifier.reports.activity import activity_summary, summary_csv, summary_records
from classifier.reports.filters import ReportFilters
from classifier.reports.forms import ReportFilterForm, SensitiveSpeciesForm
from classifier.reports.recordings_csv import recordings_csv
from classifier.reports.sensitive import blurred_site_ids
from surveys.access import get_project_for_user, get_site_for_user, get_visit_for_user
from surveys.models import Project, Recording, Role, Site, Visit

CSV_TYPE = "text/csv; charset=utf-8"
PLOTS = {"hourly": plots.passes_by_hour_png, "nightly": plots.activity_by_night_png}


def _filters(request: HttpRequest) -> tuple[ReportFilterForm, ReportFilters | None]:
    """The form and its filters; None when the query string is invalid."""
    form = ReportFilterForm(request.GET or None)
    if not form.is_bound:
        return form, ReportFilters()
    return form, (form.filters() if form.is_valid() else None)


def _bad_filters(form: ReportFilterForm) -> HttpResponseBadRequest:
    errors = "; ".join(str(e) for field_errors in form.errors.values() for e in field_errors)
    return HttpResponseBadRequest(
        _("Invalid report filters: %(errors)s") % {"errors": errors}, content_type="text/plain"
    )


def _filename(*parts: str) -> str:
    return "-".join(slugify(part) or "x" for part in parts)


def _csv_stream(blocks: Iterator[str], *, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse((block.encode("utf-8") for block in blocks), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _csv(text: str, *, filename: str) -> HttpResponse:
    response = HttpResponse(text.encode("utf-8"), content_type=CSV_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}.csv"'
    return response


def _plot_title(kind: str, site: Site) -> str:
    title = _("Passes per hour at %(site)s") if kind == "hourly" else _("Passes per night at %(site)s")
    return title % {"site": site.code}


def _site_visits(site: Site) -> QuerySet[Visit]:
    return Visit.objects.filter(site=site)


def _site_recordings(site: Site) -> QuerySet[Recording]:
    return Recording.objects.filter(visit__site=site)


# --------------------------------------------------------------------------------------- the site report


@login_required
@require_GET
def site_report(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    form, filters = _filters(request)
    filters = filters or ReportFilters()  # the page shows the form's errors and the unfiltered report
    summary = activity_summary(_site_recordings(site), _site_visits(site), filters=filters)
    visits = list(filters.visits(_site_visits(site)).select_related("site__project").order_by("night", "pk"))
    # The plots go inline: the summary is the expensive part, and two <img> requests would build it twice more.
    pictures = {kind: base64.b64encode(draw(summary, title=_plot_title(kind, site))).decode("ascii")
                for kind, draw in PLOTS.items()}  # fmt: skip
    rows = summary_records(summary)
    context = {
        "site": site,
        "project": site.project,
        "form": form,
        "filters": filters,
        "query": filters.query_string(),
        "rows": rows,
        "hinted": [row for row in rows if row["hints"]],
        "checks": list(
            protocol.check_visits(visits, context=_site_visits(site).select_related("site")).values()
        ),
        "rules": protocol.load_rules(),
        "pictures": pictures,
    }
    template_name = "classifier/report_site.html" + ("#site-report" if request.htmx else "")
    return render(request, template_name, context)


@login_required
@require_GET
def site_recordings_csv(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    blocks = recordings_csv(_site_recordings(site), filters=filters,
                            blurred_site_ids=blurred_site_ids(site.project, request.user))  # fmt: skip
    return _csv_stream(blocks, filename=_filename(site.code, "recordings"))


@login_required
@require_GET
def site_summary_csv(request: HttpRequest, site_id: int) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    summary = activity_summary(_site_recordings(site), _site_visits(site), filters=filters,
                               blurred_site_ids=blurred_site_ids(site.project, request.user))  # fmt: skip
    return _csv(summary_csv(summary), filename=_filename(site.code, "nightly-summary"))


@login_required
@require_GET
def site_plot_png(request: HttpRequest, site_id: int, kind: str) -> HttpResponse:
    site = get_site_for_user(request.user, site_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    summary = activity_summary(_site_recordings(site), _site_visits(site), filters=filters)
    response = HttpResponse(PLOTS[kind](summary, title=_plot_title(kind, site)), content_type="image/png")
    if request.GET.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{_filename(site.code, kind)}.png"'
    return response


# --------------------------------------------------------------------------------------- protocol checks


@login_required
@require_GET
def site_protocol(request: HttpRequest, site_id: int) -> HttpResponse:
    """The protocol checks of every visit of the site (the site page loads the fragment)."""
    site = get_site_for_user(request.user, site_id)
    visits = list(_site_visits(site).select_related("site__project").order_by("night", "pk"))
    context = {"site": site, "project": site.project, "checks": list(protocol.check_visits(visits).values()),
               "rules": protocol.load_rules()}  # fmt: skip
    template_name = "classifier/report_site_protocol.html" + ("#site-protocol" if request.htmx else "")
    return render(request, template_name, context)


@login_required
@require_GET
def visit_protocol(request: HttpRequest, visit_id: int) -> HttpResponse:
    """The protocol checks of one visit (the visit page loads the fragment)."""
    visit = get_visit_for_user(request.user, visit_id)
    others = Visit.objects.filter(site=visit.site_id).select_related("site")
    context = {
        "visit": visit,
        "site": visit.site,
        "project": visit.site.project,
        "result": protocol.check_visits([visit], context=others)[visit.pk],
        "rules": protocol.load_rules(),
    }
    template_name = "classifier/report_visit_protocol.html" + ("#visit-protocol" if request.htmx else "")
    return render(request, template_name, context)


@login_required
@require_GET
def visit_recordings_csv(request: HttpRequest, visit_id: int) -> HttpResponse:
    visit = get_visit_for_user(request.user, visit_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    blocks = recordings_csv(visit.recordings.all(), filters=filters,
                            blurred_site_ids=blurred_site_ids(visit.site.project, request.user))  # fmt: skip
    return _csv_stream(blocks, filename=_filename(visit.site.code, visit.night.isoformat(), "recordings"))


# --------------------------------------------------------------------------------------- project exports


@login_required
@require_GET
def project_recordings_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    blocks = recordings_csv(Recording.objects.filter(project=project), filters=filters,
                            blurred_site_ids=blurred_site_ids(project, request.user))  # fmt: skip
    return _csv_stream(blocks, filename=_filename(project.name, "recordings"))


@login_required
@require_GET
def project_summary_csv(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id)
    form, filters = _filters(request)
    if filters is None:
        return _bad_filters(form)
    summary = activity_summary(
        Recording.objects.filter(project=project), Visit.objects.filter(site__project=project), filters=filters,
        blurred_site_ids=blurred_site_ids(project, request.user),
    )  # fmt: skip
    return _csv(summary_csv(summary), filename=_filename(project.name, "nightly-summary"))


# --------------------------------------------------------------------------------------- sensitive species


def _sensitive_context(request: HttpRequest, project: Project, form: SensitiveSpeciesForm) -> dict:
    return {
        "project": project,
        "form": form,
        "sensitive": project.sensitive_species.select_related("created_by"),
        "is_manager": project.user_has_role(request.user, Role.MANAGER),
    }


@login_required
@require_http_methods(["GET", "POST"])
def project_sensitive_species(request: HttpRequest, project_id: int) -> HttpResponse:
    """Members see the list; managers add to it (POST)."""
    minimum_role = Role.MANAGER if request.method == "POST" else None
    project = get_project_for_user(request.user, project_id, minimum_role=minimum_role)
    form = SensitiveSpeciesForm(request.POST or None, project=project)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            SensitiveSpecies.objects.create(project=project, species=form.cleaned_data["species"],
                                            created_by=request.user)  # fmt: skip
            if not request.htmx:
                messages.success(request, _("Locations of %(species)s are now rounded in exports for non-managers.")
                                 % {"species": form.cleaned_data["species"]})  # fmt: skip
                return redirect("project_sensitive_species", project_id=project.pk)
            form = SensitiveSpeciesForm(project=project)
        else:
            status = 400
    template_name = "classifier/report_sensitive_species.html" + (
        "#sensitive-species" if request.htmx else ""
    )
    return render(request, template_name, _sensitive_context(request, project, form), status=status)


@login_required
@require_POST
def sensitive_species_delete(request: HttpRequest, project_id: int, sensitive_species_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id, minimum_role=Role.MANAGER)
    get_object_or_404(project.sensitive_species, pk=sensitive_species_id).delete()
    if request.htmx:
        context = _sensitive_context(request, project, SensitiveSpeciesForm(project=project))
        return render(request, "classifier/report_sensitive_species.html#sensitive-species", context)
    return redirect("project_sensitive_species", project_id=project.pk)
