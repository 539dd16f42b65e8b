"""Object lookups that start from the user (ARCHITECTURE.md, Access).

Every view fetches projects, sites, visits, recordings and memberships through these helpers, so one place
decides what a user may see and do:

- an object outside the user's projects (or one that does not exist) answers 404, so ids of other teams'
  work reveal nothing;
- an object the user may see but not change answers 403 (PermissionDenied): the user already knows it
  exists, and "forbidden" tells them why the button did nothing.

Visibility itself comes from the `for_user` querysets in `surveys.models`; nothing here filters by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _

from surveys.models import Membership, Project, Recording, Role, Site, Visit

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

    AnyUser = AbstractBaseUser | AnonymousUser


def require_role(project: Project, user: AnyUser, *, minimum_role: str) -> None:
    """Raise PermissionDenied unless the user holds at least `minimum_role` in the project."""
    if not project.user_has_role(user, minimum_role):
        raise PermissionDenied(
            _("This needs the %(role)s role in this project.") % {"role": Role(minimum_role).label}
        )


def require_staff(user: AnyUser) -> None:
    if not (user.is_authenticated and user.is_staff):
        raise PermissionDenied(_("Only staff may do this."))


def get_project_for_user(user: AnyUser, pk: int, *, minimum_role: str | None = None) -> Project:
    project = get_object_or_404(Project.objects.for_user(user), pk=pk)
    if minimum_role is not None:
        require_role(project, user, minimum_role=minimum_role)
    return project


def get_site_for_user(user: AnyUser, pk: int, *, minimum_role: str | None = None) -> Site:
    site = get_object_or_404(Site.objects.for_user(user).select_related("project"), pk=pk)
    if minimum_role is not None:
        require_role(site.project, user, minimum_role=minimum_role)
    return site


def get_visit_for_user(user: AnyUser, pk: int) -> Visit:
    return get_object_or_404(
        Visit.objects.for_user(user).select_related("site__project", "created_by"), pk=pk
    )


def get_recording_for_user(user: AnyUser, pk: int) -> Recording:
    recordings = Recording.objects.for_user(user).select_related("visit__site__project", "uploaded_by")
    return get_object_or_404(recordings, pk=pk)


def get_membership_for_manager(user: AnyUser, *, project_pk: int, pk: int) -> Membership:
    """A membership of a project the user manages; 404 when it belongs to another project."""
    project = get_project_for_user(user, project_pk, minimum_role=Role.MANAGER)
    return get_object_or_404(project.memberships.select_related("user", "project"), pk=pk)


def can_edit_visit(user: AnyUser, visit: Visit) -> bool:
    """Managers edit every visit of their project; other members only the visits they created."""
    project = visit.site.project
    if project.user_has_role(user, Role.MANAGER):
        return True
    return (
        visit.created_by_id is not None
        and visit.created_by_id == user.pk
        and project.role_of(user) is not None
    )


def get_visit_for_editor(user: AnyUser, pk: int) -> Visit:
    visit = get_visit_for_user(user, pk)
    if not can_edit_visit(user, visit):
        raise PermissionDenied(_("Only the person who created this visit or a manager may edit it."))
    return visit
