"""Settings for bench/web_load.py only: the production settings plus one comparison page.

The load benchmark compares the app's pages with a minimal logged-in page served by the same gunicorn, in
the same run. That page must not exist in the app, so it lives in its own URL map (bench/load_urls.py),
which only this module names. Everything else (DEBUG, middleware, sessions, django-axes, the manifest
static storage) is batsite.settings as read from the environment, as in production.
"""

from batsite.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.load_urls"
