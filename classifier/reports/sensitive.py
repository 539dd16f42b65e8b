"""Rounded coordinates in exports for sensitive species (for members who are not managers).

A manager marks species of a project as sensitive (`SensitiveSpecies`). In the CSVs a non-manager downloads,
every site where such a species was ever noted (by any model's answer or any expert decision) shows its
latitude and longitude rounded to 0.1 degree (about 11 km north-south, 7 km east-west in the Netherlands).
Blurring is per site and ignores the report's filters: rows of one site must never show the exact position
in one file (or one date range) and the rounded one in another, or the site code would give it away.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from django.db.models import Q

from classifier.models import LabelDecision, Prediction, SensitiveSpecies
from ml import labels
from surveys.models import Project, Role

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

BLUR_DECIMALS = 1


def blur(value: float) -> float:
    return round(value, BLUR_DECIMALS)


def with_pairs(species: Iterable[str]) -> frozenset[str]:
    """The species and the labels that name them too: a species' acoustic pair, a pair's members."""
    names: set[str] = set()
    for name in species:
        names.add(name)
        pair = labels.pair_of(name)
        if pair:
            names.add(pair)
        if name in labels.PAIRS:
            names.update(labels.PAIRS[name].members)
    return frozenset(names)


def _holds_any(field: str, names: Iterable[str]) -> Q:
    # JSON lists of label ids; match the quoted element in the stored JSON text (works on SQLite and
    # PostgreSQL alike), so "Myotis mystacinus" never matches inside "Myotis mystacinus/brandtii".
    q = Q()
    for name in names:
        q |= Q(**{f"{field}__icontains": json.dumps(name)})
    return q


def blurred_site_ids(project: Project, user: AbstractBaseUser | AnonymousUser) -> frozenset[int]:
    """Ids of the project's sites whose position this user's exports must round."""
    if project.user_has_role(user, Role.MANAGER):
        return frozenset()
    names = with_pairs(SensitiveSpecies.objects.filter(project=project).values_list("species", flat=True))
    if not names:
        return frozenset()
    predicted = Prediction.objects.filter(_holds_any("species_present", names) | Q(species__in=names),
                                          recording__project=project)  # fmt: skip
    decided = LabelDecision.objects.filter(_holds_any("species_present", names), recording__project=project)
    sites = set(predicted.order_by().values_list("recording__visit__site_id", flat=True).distinct())
    sites.update(decided.order_by().values_list("recording__visit__site_id", flat=True).distinct())
    return frozenset(sites)
