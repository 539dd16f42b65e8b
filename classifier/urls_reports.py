"""URLs of the reports (issue 8): include with `path("", include("classifier.urls_reports"))`."""

from django.urls import path

from classifier import views_reports as views

urlpatterns = [
    path("sites/<int:site_id>/report/", views.site_report, name="site_report"),
    path("sites/<int:site_id>/report/recordings.csv", views.site_recordings_csv, name="site_recordings_csv"),
    path("sites/<int:site_id>/report/summary.csv", views.site_summary_csv, name="site_summary_csv"),
    path(
        "sites/<int:site_id>/report/passes-by-hour.png",
        views.site_plot_png,
        {"kind": "hourly"},
        name="site_plot_hourly",
    ),  # fmt: skip
    path(
        "sites/<int:site_id>/report/passes-by-night.png",
        views.site_plot_png,
        {"kind": "nightly"},
        name="site_plot_nightly",
    ),  # fmt: skip
    path("sites/<int:site_id>/protocol/", views.site_protocol, name="site_protocol"),
    path("visits/<int:visit_id>/protocol/", views.visit_protocol, name="visit_protocol"),
    path("visits/<int:visit_id>/recordings.csv", views.visit_recordings_csv, name="visit_recordings_csv"),
    path(
        "projects/<int:project_id>/recordings.csv",
        views.project_recordings_csv,
        name="project_recordings_csv",
    ),
    path("projects/<int:project_id>/summary.csv", views.project_summary_csv, name="project_summary_csv"),
    path(
        "projects/<int:project_id>/sensitive-species/",
        views.project_sensitive_species,
        name="project_sensitive_species",
    ),  # fmt: skip
    path(
        "projects/<int:project_id>/sensitive-species/<int:sensitive_species_id>/delete/",
        views.sensitive_species_delete,
        name="sensitive_species_delete",
    ),  # fmt: skip
]
