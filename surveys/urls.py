"""URLs of the survey app: one view per URL."""

from django.urls import path

from surveys.views import dashboard, members, projects, recordings, sites, visits

urlpatterns = [
    path("", dashboard.dashboard, name="dashboard"),
    path("projects/", projects.project_list, name="project_list"),
    path("projects/new/", projects.project_create, name="project_create"),
    path("projects/<int:project_id>/", projects.project_detail, name="project_detail"),
    path("projects/<int:project_id>/edit/", projects.project_edit, name="project_edit"),
    path("projects/<int:project_id>/delete/", projects.project_delete, name="project_delete"),
    path("projects/<int:project_id>/members/", members.project_members, name="project_members"),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/role/",
        members.membership_update,
        name="membership_update",
    ),
    path(
        "projects/<int:project_id>/members/<int:membership_id>/remove/",
        members.membership_delete,
        name="membership_delete",
    ),
    path("projects/<int:project_id>/sites/new/", sites.site_create, name="site_create"),
    path("sites/<int:site_id>/", sites.site_detail, name="site_detail"),
    path("sites/<int:site_id>/edit/", sites.site_edit, name="site_edit"),
    path("sites/<int:site_id>/visits/new/", visits.visit_create, name="visit_create"),
    path("visits/<int:visit_id>/", visits.visit_detail, name="visit_detail"),
    path("visits/<int:visit_id>/edit/", visits.visit_edit, name="visit_edit"),
    path("visits/<int:visit_id>/upload/", visits.visit_upload, name="visit_upload"),
    path("recordings/<int:recording_id>/", recordings.recording_detail, name="recording_detail"),
    path("recordings/<int:recording_id>/file/", recordings.recording_download, name="recording_download"),
]
