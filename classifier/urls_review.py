"""URLs of expert review (issue 6): include with `path("", include("classifier.urls_review"))`."""

from django.urls import path

from classifier import views_review

urlpatterns = [
    path("projects/<int:project_id>/review/", views_review.review_queue, name="review_queue"),
    path("projects/<int:project_id>/review/next/", views_review.review_next, name="review_next"),
    path(
        "projects/<int:project_id>/review/recordings/<int:recording_id>/",
        views_review.review_item,
        name="review_item",
    ),
    path(
        "projects/<int:project_id>/review/recordings/<int:recording_id>/decide/",
        views_review.review_decide,
        name="review_decide",
    ),
    path("projects/<int:project_id>/review/bulk/", views_review.review_bulk, name="review_bulk"),
    path("projects/<int:project_id>/review/bulk/confirm/", views_review.review_bulk_confirm, name="review_bulk_confirm"),
    path("projects/<int:project_id>/review/double/", views_review.review_double, name="review_double"),
    path(
        "projects/<int:project_id>/review/double/new/",
        views_review.review_double_request,
        name="review_double_request",
    ),
    path("visits/<int:visit_id>/labels/", views_review.visit_review_labels, name="visit_review_labels"),
]
