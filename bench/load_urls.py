"""URL map for bench/web_load.py: the app's URLs plus `/bench/minimal/`, the baseline page.

The baseline is the least a logged-in Django page costs here: the same middleware (session, auth, CSRF,
CSP, axes), one 50-row query and one small template. The app's pages are measured against it, so the
comparison holds on any machine. Served only under bench.load_settings; the app itself has no such URL.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.template import engines
from django.urls import path
from django.views.decorators.http import require_GET

from batsite.urls import urlpatterns as app_urlpatterns
from surveys.models import Recording

MINIMAL_ROWS = 50
_MINIMAL_TEMPLATE = engines["django"].from_string(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Minimal</title></head>
<body><h1>{{ user.get_username }}</h1>
<table>{% for recording in recordings %}
<tr><td>{{ recording.pk }}</td><td>{{ recording.original_name }}</td><td>{{ recording.status }}</td>
<td>{{ recording.recorded_at|date:"Y-m-d H:i" }}</td><td>{{ recording.duration_s|floatformat:1 }}</td></tr>
{% endfor %}</table></body></html>"""
)


@login_required
@require_GET
def minimal(request: HttpRequest) -> HttpResponse:
    recordings = list(Recording.objects.order_by("pk")[:MINIMAL_ROWS])
    return HttpResponse(_MINIMAL_TEMPLATE.render({"recordings": recordings}, request))


urlpatterns = [path("bench/minimal/", minimal, name="bench_minimal"), *app_urlpatterns]
