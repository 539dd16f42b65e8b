"""URL map: app pages, auth, i18n, admin and the health check."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from batsite import health

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("", include("classifier.urls")),
    path("", include("classifier.urls_review")),
    path("", include("classifier.urls_training")),
    path("", include("classifier.urls_reports")),
    path("", include("batsite.urls_api")),
    path("", include("surveys.urls")),
]
