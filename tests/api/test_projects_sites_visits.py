"""Projects, sites and visits: listing, one object, creating a visit; the same visibility as the pages."""

from __future__ import annotations

import pytest

from surveys.models import Role, Visit
from tests.api.conftest import assert_error
from tests.factories import MembershipFactory, ProjectFactory, SiteFactory, VisitFactory, member

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------------------------- projects


def test_member_lists_only_their_projects_with_their_role(api, project, outsider):
    response = api.get("/projects")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    assert [(p["id"], p["name"], p["role"]) for p in body["items"]] == [
        (project.pk, project.name, "fieldworker")
    ]


def test_staff_list_every_project_as_managers(api_for, staff, project, outsider):
    body = api_for(staff).get("/projects").json()
    assert body["count"] == 2
    assert {p["role"] for p in body["items"]} == {"manager"}


def test_deleted_projects_are_not_listed(api, project):
    project.deleted_at = project.created_at
    project.save()
    assert api.get("/projects").json()["count"] == 0
    assert_error(api.get(f"/projects/{project.pk}"), 404, "not_found")


def test_projects_are_paged_with_limit_and_offset(api_for, db):
    user = member(ProjectFactory(name="A"), Role.EXPERT)
    for name in ("D", "E"):
        MembershipFactory(user=user, project=ProjectFactory(name=name))
    ProjectFactory(name="B")  # not the user's
    body = api_for(user).get("/projects", {"limit": 2, "offset": 1}).json()
    assert body["count"] == 3
    assert [p["name"] for p in body["items"]] == ["D", "E"]


@pytest.mark.parametrize("query", [{"limit": 0}, {"limit": 501}, {"offset": -1}, {"limit": "many"}])
def test_bad_paging_values_get_422_naming_the_parameter(api, project, query):
    body = assert_error(api.get("/projects", query), 422, "invalid")
    assert body["field"] == next(iter(query))


def test_project_detail(api, project):
    body = api.get(f"/projects/{project.pk}").json()
    assert body["id"] == project.pk and body["role"] == "fieldworker"


def test_outsider_gets_404_for_a_project(outsider_api, project):
    assert_error(outsider_api.get(f"/projects/{project.pk}"), 404, "not_found", None)


def test_an_id_too_large_for_any_database_is_422_not_500(api):
    assert_error(api.get(f"/projects/{2**63}"), 422, "invalid", "project_id")


# --------------------------------------------------------------------------------------------- sites


def test_member_lists_a_projects_sites(api, project, site):
    SiteFactory(project=project, code="AA01")
    body = api.get(f"/projects/{project.pk}/sites").json()
    assert [s["code"] for s in body["items"]] == ["AA01", "KR01"]
    first = body["items"][1]
    assert first["project_id"] == project.pk and first["time_zone"] == "Europe/Amsterdam"


def test_outsider_gets_404_for_sites(outsider_api, project, site):
    assert_error(outsider_api.get(f"/projects/{project.pk}/sites"), 404, "not_found")
    assert_error(outsider_api.get(f"/sites/{site.pk}"), 404, "not_found")


def test_site_detail(api, site):
    body = api.get(f"/sites/{site.pk}").json()
    assert (body["id"], body["code"], body["name"]) == (site.pk, "KR01", "Kromme Rijn")


# --------------------------------------------------------------------------------------------- visits


def test_member_lists_a_sites_visits_newest_night_first(api, site, visit):
    import datetime as dt

    later = VisitFactory(site=site, night=dt.date(2025, 7, 1))
    body = api.get(f"/sites/{site.pk}/visits").json()
    assert [v["id"] for v in body["items"]] == [later.pk, visit.pk]
    assert body["items"][1]["night"] == "2025-06-12"
    assert body["items"][1]["start_time"] == "21:30:00"
    assert body["items"][1]["project_id"] == site.project_id


def test_member_creates_a_visit_with_the_forms_rules(api, site, fieldworker):
    payload = {
        "night": "2025-07-02",
        "start_time": "22:00",
        "end_time": "04:30",
        "purpose": "flight_route",
        "detector_make": "Elekon",
        "detector_model": "Batlogger M",
        "time_expansion": 1,
        "temperature_c": 14.5,
        "wind_beaufort": 2,
        "rain": "drizzle",
        "observers": "A. Vos",
    }
    response = api.post_json(f"/sites/{site.pk}/visits", payload)
    assert response.status_code == 201, response.content
    body = response.json()
    visit = Visit.objects.get(pk=body["id"])
    assert visit.site == site and visit.created_by == fieldworker
    assert (visit.purpose, visit.rain, visit.wind_beaufort) == ("flight_route", "drizzle", 2)
    assert body["created_by"] == fieldworker.username and body["end_time"] == "04:30:00"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "night"),
        ({"night": "12-06-2025"}, "night"),
        ({"night": "2025-06-12", "time_expansion": 0.5}, "time_expansion"),
        ({"night": "2025-06-12", "purpose": "picnic"}, "purpose"),
        ({"night": "2025-06-12", "wind_beaufort": 13}, "wind_beaufort"),
        ({"night": "2025-06-12", "detector_make": "x" * 101}, "detector_make"),
        ({"night": "2025-06-12", "notes": "a\x00b"}, "notes"),
    ],
)
def test_invalid_visit_gets_422_naming_the_field_and_saves_nothing(api, site, payload, field):
    before = Visit.objects.count()
    assert_error(api.post_json(f"/sites/{site.pk}/visits", payload), 422, "invalid", field)
    assert Visit.objects.count() == before


def test_malformed_json_gets_400(api, site):
    response = api.client.post(
        f"/api/v1/sites/{site.pk}/visits", "{not json", content_type="application/json",
        headers={"Authorization": f"Bearer {api.key}"},
    )  # fmt: skip
    assert_error(response, 400, "bad_request")


def test_outsider_cannot_create_a_visit_and_nothing_is_saved(outsider_api, site):
    before = Visit.objects.count()
    assert_error(
        outsider_api.post_json(f"/sites/{site.pk}/visits", {"night": "2025-07-02"}), 404, "not_found"
    )
    assert Visit.objects.count() == before


def test_visit_detail_and_outsider_404(api, outsider_api, visit):
    assert api.get(f"/visits/{visit.pk}").json()["site_id"] == visit.site_id
    assert_error(outsider_api.get(f"/visits/{visit.pk}"), 404, "not_found")
    assert_error(outsider_api.get(f"/visits/{visit.pk}/recordings"), 404, "not_found")


def test_wrong_method_is_405(api, visit):
    assert api.client.delete(f"/api/v1/visits/{visit.pk}", headers={"Authorization": f"Bearer {api.key}"}
                             ).status_code == 405  # fmt: skip


def test_unknown_api_path_gets_a_json_404(api):
    assert_error(api.get("/no-such-thing"), 404, "not_found")


def test_an_unknown_query_parameter_gets_422_naming_it(api, site):
    body = assert_error(api.get(f"/sites/{site.pk}/visits", {"limt": 5}), 422, "invalid", "limt")
    assert "limit" in body["message"] and "offset" in body["message"]
