"""Settings for the test suite: the real settings module with test-only environment defaults.

DATABASE_URL and REDIS_URL pass through unchanged (CI points them at PostgreSQL and Redis); without them
the suite uses a file-based SQLite database that a worker process can see too.
"""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("STATIC_MANIFEST", "false")
os.environ.setdefault("HTTPS", "false")
os.environ.setdefault("BATSITE_VAR_DIR", os.path.join(os.path.dirname(os.path.dirname(__file__)), "var", "test"))

from batsite.settings import *  # noqa: E402,F401,F403

os.makedirs(VAR_DIR, exist_ok=True)  # noqa: F405 - a plain `pytest` run creates its SQLite file here
WHITENOISE_AUTOREFRESH = True  # serve from static/ directly: tests never run collectstatic
AXES_ENABLED = False  # login throttling is tested on its own (tests/security/test_login_throttling.py)
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests
