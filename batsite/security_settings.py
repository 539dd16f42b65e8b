"""Security settings of issue 10: login throttling (django-axes) and the Content-Security-Policy.

batsite/settings.py applies them at its end with

    from batsite.security_settings import apply_security_settings
    apply_security_settings(globals())

so the lists it already defines (INSTALLED_APPS, MIDDLEWARE) are extended in place, once, and every value
below can still be overridden from the environment.

Throttling: after AXES_FAILURE_LIMIT failed log-ins for one user name from one IP address (default 10),
that pair is refused for AXES_COOLOFF_MINUTES (default 15) with the login page and status 429; a success
resets the count. Attempts are stored in the database (axes' database handler), so every web host behind
the load balancer sees the same counts. Tests run with AXES_ENABLED=false (tests/settings.py) except the
throttling test, which turns it on; the load benchmark logs in with correct passwords only, so it never
reaches the limit (or runs with AXES_ENABLED=false).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from batsite.env import env_bool, env_int

CSP_MIDDLEWARE = "batsite.security.ContentSecurityPolicyMiddleware"
AXES_MIDDLEWARE = "axes.middleware.AxesMiddleware"


def apply_security_settings(namespace: dict[str, Any]) -> None:
    """Extend a settings module's namespace (its `globals()`) with throttling and the CSP."""
    apps = list(namespace["INSTALLED_APPS"])
    if "axes" not in apps:
        apps.append("axes")
    namespace["INSTALLED_APPS"] = apps

    middleware = list(namespace["MIDDLEWARE"])
    if CSP_MIDDLEWARE not in middleware:
        # Right after SecurityMiddleware, so every response (error pages too) carries the policy.
        at = middleware.index("django.middleware.security.SecurityMiddleware") + 1
        middleware.insert(at, CSP_MIDDLEWARE)
    if AXES_MIDDLEWARE not in middleware:
        middleware.append(AXES_MIDDLEWARE)  # axes wants to be last: it turns a lockout into a response
    namespace["MIDDLEWARE"] = middleware

    # AxesStandaloneBackend first: it refuses a locked-out pair before the password is even checked.
    namespace["AUTHENTICATION_BACKENDS"] = [
        "axes.backends.AxesStandaloneBackend",
        "django.contrib.auth.backends.ModelBackend",
    ]
    namespace["AXES_ENABLED"] = env_bool("AXES_ENABLED", True)
    namespace["AXES_FAILURE_LIMIT"] = env_int("AXES_FAILURE_LIMIT", 10, minimum=1)
    namespace["AXES_COOLOFF_TIME"] = dt.timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
    # User name and IP together: an attacker cannot lock a colleague out from elsewhere, and one office
    # behind a single NAT address is not locked out by one person's typos.
    namespace["AXES_LOCKOUT_PARAMETERS"] = [["username", "ip_address"]]
    namespace["AXES_RESET_ON_SUCCESS"] = True
    namespace["AXES_LOCKOUT_CALLABLE"] = "batsite.security.login_lockout_response"
    namespace["AXES_HANDLER"] = "axes.handlers.database.AxesDatabaseHandler"
    namespace["AXES_VERBOSE"] = False
    if namespace.get("SECURE_PROXY_SSL_HEADER"):
        # Behind the proxy every request comes from the proxy's address: read the client's own address from
        # the header the proxy sets, trusting exactly one hop.
        namespace["AXES_IPWARE_PROXY_COUNT"] = 1
        namespace["AXES_IPWARE_META_PRECEDENCE_ORDER"] = ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"]
