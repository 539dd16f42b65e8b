"""Membership management for managers: add people by username, change their role, remove them.

Role changes and removals answer with the members table fragment to HTMX and redirect back otherwise.
A project always keeps one manager: the last one can be neither demoted nor removed here (staff can
still fix a project in the admin).
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from surveys.access import get_membership_for_manager, get_project_for_user
from surveys.forms import MembershipAddForm, MembershipRoleForm
from surveys.models import Membership, Project, Role


def _is_last_manager(membership: Membership) -> bool:
    if membership.role != Role.MANAGER:
        return False
    return not membership.project.memberships.filter(role=Role.MANAGER).exclude(pk=membership.pk).exists()


def _members_response(
    request: HttpRequest, project: Project, *, add_form: MembershipAddForm | None = None
) -> HttpResponse:
    template_name = "surveys/project_members.html"
    if request.htmx:
        template_name += "#members"
    context = {
        "project": project,
        "memberships": project.memberships.select_related("user").order_by("user__username"),
        "add_form": add_form or MembershipAddForm(project=project),
        "role_choices": Role.choices,
    }
    return render(request, template_name, context, status=400 if add_form and add_form.errors else 200)


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_project_for_user(request.user, project_id, minimum_role=Role.MANAGER)
    if request.method == "GET":
        return _members_response(request, project)
    form = MembershipAddForm(request.POST, project=project)
    if not form.is_valid():
        return _members_response(request, project, add_form=form)
    user = form.cleaned_data["username"]
    Membership.objects.create(project=project, user=user, role=form.cleaned_data["role"])
    messages.success(request, _("%(username)s added.") % {"username": user.username})
    if request.htmx:
        return _members_response(request, project)
    return redirect("project_members", project_id=project.pk)


@login_required
@require_POST
def membership_update(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    membership = get_membership_for_manager(request.user, project_pk=project_id, pk=membership_id)
    was_last_manager = _is_last_manager(membership)  # before the form writes the new role onto the instance
    form = MembershipRoleForm(request.POST, instance=membership)
    if not form.is_valid():
        messages.error(request, _("Choose one of the listed roles."))
    elif form.cleaned_data["role"] != Role.MANAGER and was_last_manager:
        messages.error(request, _("A project needs at least one manager; name another manager first."))
    else:
        form.save()
        messages.success(
            request,
            _("%(username)s is now %(role)s.")
            % {"username": membership.user.username, "role": membership.get_role_display()},
        )
    if request.htmx:
        return _members_response(request, membership.project)
    return redirect("project_members", project_id=project_id)


@login_required
@require_POST
def membership_delete(request: HttpRequest, project_id: int, membership_id: int) -> HttpResponse:
    membership = get_membership_for_manager(request.user, project_pk=project_id, pk=membership_id)
    if _is_last_manager(membership):
        messages.error(request, _("A project needs at least one manager; name another manager first."))
    else:
        membership.delete()
        messages.success(
            request, _("%(username)s removed from the project.") % {"username": membership.user.username}
        )
    if request.htmx:
        return _members_response(request, membership.project)
    return redirect("project_members", project_id=project_id)
