"""URLs of the JSON API and of the profile page where its tokens are made (issue 9).

Included from batsite/urls.py with `path("", include("batsite.urls_api"))`.
"""

from django.urls import path, re_path
from django.views.generic.base import RedirectView

from batsite.api import api
from surveys import views_profile
from surveys.api.errors import error_response, not_found_message


def api_not_found(request, rest: str = ""):  # noqa: ARG001 - the path is only matched, not used
    """Unknown paths under /api/ answer in the API's error shape, not with the HTML 404 page."""
    return error_response(404, "not_found", not_found_message())


urlpatterns = [
    path("accounts/profile/", views_profile.profile, name="profile"),
    path(
        "accounts/profile/tokens/<int:token_id>/revoke/",
        views_profile.api_token_revoke_view,
        name="api_token_revoke",
    ),  # fmt: skip
    path("api/", RedirectView.as_view(pattern_name="api-v1:openapi-view"), name="api_home"),
    path("api/v1/", RedirectView.as_view(pattern_name="api-v1:openapi-view")),
    path("api/v1/", api.urls),
    re_path(r"^api/(?P<rest>.*)$", api_not_found),
]
