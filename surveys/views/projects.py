"""Project pages: the list, one project with its sites, editing and deleting (managers), creating (staff)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from surveys.access import get_project_for_user, require_staff
from surveys.forms import ProjectCreateForm, ProjectDeleteForm, ProjectForm
from surveys.models import Membership, Project, Role
from surveys.services import project_storage_use


@login_required
@require_GET
def project_list(request: HttpRequest) -> HttpResponse:
    projects = Project.objects.for_user(request.user).annotate(
        site_count=Count("sites", distinct=True), visit_count=Count("sites__visits", distinct=True)
    )
    return render(request, "surveys/project_list.html", {"projects": projects})


@login_required
@require_GET
def project_detail(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id)
    sites = project.sites.annotate(visit_count=Count("visits"), last_night=Max("visits__night"))
    role = project.role_of(request.user)
    is_manager = role == Role.MANAGER
    return render(
        request,
        "surveys/project_detail.html",
        {
            "project": project,
            "sites": sites,
            "role_label": Role(role).label if role else "",
            "is_manager": is_manager,
            "can_review": role in (Role.EXPERT, Role.MANAGER),
            "member_count": project.memberships.count(),
            # Managers plan the disk (and may delete); other members have no use for it.
            "storage": project_storage_use(project=project) if is_manager else None,
        },
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_edit(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id, minimum_role=Role.MANAGER)
    form = ProjectForm(request.POST or None, instance=project)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, _("Project saved."))
        return redirect("project_detail", project_id=project.pk)
    context = {"form": form, "project": project}
    return render(request, "surveys/project_form.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_delete(request: HttpRequest, project_id: int) -> HttpResponse:
    """Managers delete softly, after typing the name: rows and files stay, staff can restore it."""
    project = get_project_for_user(request.user, project_id, minimum_role=Role.MANAGER)
    # Not `request.POST or None`: an empty POST must be refused with the error, not shown as a fresh form.
    form = ProjectDeleteForm(request.POST if request.method == "POST" else None, project=project)
    if form.is_valid():
        project.mark_deleted(by=request.user)
        messages.success(
            request,
            _("Project %(name)s deleted. Its recordings are kept; ask an operator if it must come back.")
            % {"name": project.name},
        )
        return redirect("project_list")
    context = {"form": form, "project": project, "storage": project_storage_use(project=project)}
    return render(request, "surveys/project_delete.html", context, status=400 if form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_create(request: HttpRequest) -> HttpResponse:
    require_staff(request.user)
    form = ProjectCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            project = form.save(commit=False)
            project.created_by = request.user
            project.save()
            Membership.objects.bulk_create(
                Membership(project=project, user=user, role=Role.MANAGER)
                for user in form.cleaned_data["managers"]
            )
        messages.success(request, _("Project %(name)s created.") % {"name": project.name})
        return redirect("project_detail", project_id=project.pk)
    context = {"form": form, "project": None}
    return render(request, "surveys/project_form.html", context, status=400 if form.errors else 200)
