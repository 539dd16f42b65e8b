"""factory_boy factories for the Django models, shared by every test package."""

from __future__ import annotations

import datetime as dt
import hashlib

import factory
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile

from surveys.models import Membership, Project, Recording, Role, Site, Visit

TEST_PASSWORD = "a-long-test-password-42"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.PostGenerationMethodCall("set_password", TEST_PASSWORD)

    @factory.post_generation
    def _save(obj, create, extracted, **kwargs):  # noqa: N805 - factory_boy hook
        if create:
            obj.save()


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    project = factory.SubFactory(ProjectFactory)
    role = Role.FIELDWORKER


class SiteFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Site

    project = factory.SubFactory(ProjectFactory)
    code = factory.Sequence(lambda n: f"S{n:03d}")
    name = factory.Sequence(lambda n: f"Site {n}")
    latitude = 52.09
    longitude = 5.12


class VisitFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Visit

    site = factory.SubFactory(SiteFactory)
    night = dt.date(2025, 6, 12)
    start_time = dt.time(21, 30)
    end_time = dt.time(1, 30)


class RecordingFactory(factory.django.DjangoModelFactory):
    """A recording row with a small stored file; pass `content=` for real WAV bytes."""

    class Meta:
        model = Recording

    class Params:
        content = factory.Sequence(lambda n: f"RIFF-test-{n}".encode())

    visit = factory.SubFactory(VisitFactory)
    project = factory.LazyAttribute(lambda r: r.visit.site.project)
    sha256 = factory.LazyAttribute(lambda r: hashlib.sha256(r.content).hexdigest())
    original_name = factory.Sequence(lambda n: f"REC_20250612_2300{n % 60:02d}.wav")
    size_bytes = factory.LazyAttribute(lambda r: len(r.content))
    file = factory.LazyAttribute(lambda r: ContentFile(r.content, name="upload.wav"))


def member(project: Project, role: str = Role.FIELDWORKER, **user_fields) -> object:
    """A new user with `role` in `project`."""
    user = UserFactory(**user_fields)
    MembershipFactory(user=user, project=project, role=role)
    return user
