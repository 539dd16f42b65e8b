"""surveys.access: every lookup starts from the user; foreign ids are 404, too little role is 403."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import Http404

from surveys.access import (
    can_edit_visit,
    get_membership_for_manager,
    get_project_for_user,
    get_recording_for_user,
    get_site_for_user,
    get_visit_for_editor,
    get_visit_for_user,
    require_staff,
)
from surveys.models import Membership, Role
from tests.factories import (
    MembershipFactory,
    ProjectFactory,
    RecordingFactory,
    UserFactory,
    VisitFactory,
    member,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("media_root")]


@pytest.fixture
def visit():
    return VisitFactory()


def test_member_reaches_every_object_of_the_project(visit):
    recording = RecordingFactory(visit=visit)
    user = member(visit.site.project, Role.FIELDWORKER)
    assert get_project_for_user(user, visit.site.project.pk) == visit.site.project
    assert get_site_for_user(user, visit.site.pk) == visit.site
    assert get_visit_for_user(user, visit.pk) == visit
    assert get_recording_for_user(user, recording.pk) == recording


@pytest.mark.parametrize("user_kind", ["outsider", "anonymous", "inactive member"])
def test_foreign_ids_raise_404(visit, user_kind):
    recording = RecordingFactory(visit=visit)
    if user_kind == "outsider":
        member(ProjectFactory(), Role.MANAGER)
        user = UserFactory()
    elif user_kind == "anonymous":
        user = AnonymousUser()
    else:
        user = member(visit.site.project, Role.MANAGER, is_active=False)
    for lookup, pk in [
        (get_project_for_user, visit.site.project.pk),
        (get_site_for_user, visit.site.pk),
        (get_visit_for_user, visit.pk),
        (get_recording_for_user, recording.pk),
    ]:
        with pytest.raises(Http404):
            lookup(user, pk)


def test_missing_ids_raise_404_like_foreign_ones(visit):
    user = member(visit.site.project, Role.MANAGER)
    with pytest.raises(Http404):
        get_visit_for_user(user, 10_000_000)


def test_too_little_role_raises_permission_denied_not_404(visit):
    expert = member(visit.site.project, Role.EXPERT)
    with pytest.raises(PermissionDenied):
        get_project_for_user(expert, visit.site.project.pk, minimum_role=Role.MANAGER)
    with pytest.raises(PermissionDenied):
        get_site_for_user(expert, visit.site.pk, minimum_role=Role.MANAGER)
    assert get_project_for_user(expert, visit.site.project.pk, minimum_role=Role.EXPERT) == visit.site.project


def test_staff_reach_every_project_as_managers(visit):
    staff = UserFactory(is_staff=True)
    assert get_project_for_user(staff, visit.site.project.pk, minimum_role=Role.MANAGER) == visit.site.project
    assert can_edit_visit(staff, visit)
    require_staff(staff)


def test_only_staff_pass_require_staff(visit):
    with pytest.raises(PermissionDenied):
        require_staff(member(visit.site.project, Role.MANAGER))


def test_visits_are_edited_by_their_creator_or_a_manager(visit):
    project = visit.site.project
    creator = member(project, Role.FIELDWORKER)
    visit.created_by = creator
    visit.save()
    colleague = member(project, Role.EXPERT)
    assert can_edit_visit(creator, visit)
    assert can_edit_visit(member(project, Role.MANAGER), visit)
    assert not can_edit_visit(colleague, visit)
    with pytest.raises(PermissionDenied):
        get_visit_for_editor(colleague, visit.pk)


def test_creator_who_left_the_project_can_no_longer_edit(visit):
    creator = member(visit.site.project, Role.FIELDWORKER)
    visit.created_by = creator
    visit.save()
    Membership.objects.filter(user=creator).delete()
    with pytest.raises(Http404):
        get_visit_for_editor(creator, visit.pk)


def test_membership_lookup_is_confined_to_the_managed_project(visit):
    project = visit.site.project
    manager = member(project, Role.MANAGER)
    own = MembershipFactory(project=project)
    foreign = MembershipFactory()
    assert get_membership_for_manager(manager, project_pk=project.pk, pk=own.pk) == own
    with pytest.raises(Http404):
        get_membership_for_manager(manager, project_pk=project.pk, pk=foreign.pk)
