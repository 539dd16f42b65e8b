"""Staff URLs of the learning loop: Xeno-Canto imports, retraining runs, model versions. One view per URL."""

from django.urls import path

from classifier import views_training as views

urlpatterns = [
    path("staff/xeno-canto/", views.xenocanto_imports, name="xenocanto_imports"),
    path(
        "staff/xeno-canto/imports/<int:job_id>/",
        views.xenocanto_import_detail,
        name="xenocanto_import_detail",
    ),
    path(
        "staff/xeno-canto/imports/<int:job_id>/cancel/",
        views.xenocanto_import_cancel,
        name="xenocanto_import_cancel",
    ),
    path("staff/xeno-canto/recordings/", views.xenocanto_recordings, name="xenocanto_recordings"),
    path("staff/training/", views.training_runs, name="training_runs"),
    path("staff/training/<int:run_id>/", views.training_run_detail, name="training_run_detail"),
    path("staff/training/<int:run_id>/cancel/", views.training_run_cancel, name="training_run_cancel"),
    path("staff/models/", views.model_versions, name="model_versions"),
    path("staff/models/<int:version_id>/", views.model_version_detail, name="model_version_detail"),
    path("staff/models/<int:version_id>/promote/", views.model_version_promote, name="model_version_promote"),
    path(
        "staff/models/<int:version_id>/roll-back/",
        views.model_version_roll_back,
        name="model_version_roll_back",
    ),
]
