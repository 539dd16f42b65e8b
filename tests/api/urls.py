"""The site's URLs with the API's included, whether or not batsite/urls.py includes them yet."""

from django.urls import include, path

from batsite.urls import urlpatterns as site_urlpatterns

urlpatterns = [path("", include("batsite.urls_api")), *site_urlpatterns]
