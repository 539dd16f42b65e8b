"""`manage.py seed_demo`: demo users (one per role and a staff admin), a demo project, sites and a visit.

`make run` calls it on every start, so it is idempotent: rows are looked up by their natural keys and
created only when missing; an existing user's password is never reset. Not for production databases:
the demo password is printed and documented.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from surveys.models import Membership, Project, Purpose, Rain, Role, Site, Visit

DEMO_PASSWORD = "batsite-demo"
DEMO_PROJECT_NAME = "Demo: bat survey Utrecht, Amsterdam and Maastricht"


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: str | None  # None: staff operator, sees every project without a membership
    description: str


DEMO_USERS = (
    DemoUser("admin", None, "staff: every project, Django admin, model versions"),
    DemoUser("manager", Role.MANAGER, "manager of the demo project"),
    DemoUser("expert", Role.EXPERT, "expert (reviews labels) in the demo project"),
    DemoUser("fieldworker", Role.FIELDWORKER, "fieldworker (visits, uploads) in the demo project"),
)

# Real places in the Netherlands with real bat habitat; coordinates in WGS84 degrees.
DEMO_SITES = (
    {
        "code": "AMW",
        "name": "Landgoed Amelisweerd, Utrecht",
        "latitude": 52.0793,
        "longitude": 5.1680,
        "habitat": "old beech and oak woodland along the Kromme Rijn",
        "notes": "Flight route along the lane of old trees towards the river.",
    },
    {
        "code": "VDP",
        "name": "Vondelpark, Amsterdam",
        "latitude": 52.3580,
        "longitude": 4.8686,
        "habitat": "urban park with ponds and mature trees",
        "notes": "Foraging over the ponds at dusk.",
    },
    {
        "code": "SPB",
        "name": "Sint-Pietersberg, Maastricht",
        "latitude": 50.8264,
        "longitude": 5.6929,
        "habitat": "marl quarry galleries and limestone grassland",
        "notes": "Winter roost in the galleries; survey the entrances only.",
    },
)

DEMO_VISIT = {
    "night": dt.date(2025, 6, 12),
    "start_time": dt.time(21, 45),
    "end_time": dt.time(2, 30),
    "detector_make": "Elekon",
    "detector_model": "Batlogger M2",
    "detector_serial": "BLM2-DEMO-0001",
    "microphone": "built-in FG black",
    "time_expansion": 1,
    "recording_settings": "auto trigger, 312.5 kHz, 16 bit",
    "temperature_c": 16.5,
    "wind_beaufort": 2,
    "rain": Rain.NONE,
    "observers": "Fieldworker Demo",
    "purpose": Purpose.FORAGING_AREA,
    "notes": "Demo visit created by seed_demo.",
}


@transaction.atomic
def seed_demo() -> Project:
    """Create whatever of the demo data is missing and return the demo project."""
    user_model = get_user_model()
    users = {}
    for demo in DEMO_USERS:
        user, created = user_model.objects.get_or_create(
            username=demo.username,
            defaults={
                "email": f"{demo.username}@example.org",
                "is_staff": demo.role is None,
                "is_superuser": demo.role is None,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
        users[demo.username] = user

    project, _ = Project.objects.get_or_create(
        name=DEMO_PROJECT_NAME,
        defaults={
            "description": "A demo project with three sites and one visit, made by `manage.py seed_demo`.",
            "created_by": users["admin"],
        },
    )
    for demo in DEMO_USERS:
        if demo.role is not None:
            Membership.objects.get_or_create(
                user=users[demo.username], project=project, defaults={"role": demo.role}
            )

    sites = {}
    for fields in DEMO_SITES:
        site, _ = Site.objects.get_or_create(
            project=project, code=fields["code"], defaults={k: v for k, v in fields.items() if k != "code"}
        )
        sites[site.code] = site

    Visit.objects.get_or_create(
        site=sites["AMW"],
        night=DEMO_VISIT["night"],
        defaults={
            **{k: v for k, v in DEMO_VISIT.items() if k != "night"},
            "created_by": users["fieldworker"],
        },
    )
    return project


def demo_logins_text() -> str:
    lines = [f"Demo logins (password for each: {DEMO_PASSWORD}):"]
    lines += [f"  {demo.username:<12} {demo.description}" for demo in DEMO_USERS]
    return "\n".join(lines)


class Command(BaseCommand):
    help = "Create demo users (one per role and a staff admin), a demo project with three sites and a visit."

    def handle(self, *args: object, **options: object) -> None:
        project = seed_demo()
        self.stdout.write(
            f"Demo project {project.name!r}: {project.sites.count()} sites, "
            f"{Visit.objects.filter(site__project=project).count()} visit(s)."
        )
        self.stdout.write(demo_logins_text())
