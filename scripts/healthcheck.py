"""Exit 0 when the local web process answers /healthz with 200 (database and broker both up), else 1.

The Docker HEALTHCHECK, `make run` (to know when to print the URL) and .ci/run use it. It needs only the
standard library, so it works in the slim image without curl. It sends a Host header from ALLOWED_HOSTS
because Django answers 400 to any other host, and plain HTTP is fine: /healthz is exempt from the HTTPS
redirect (SECURE_REDIRECT_EXEMPT).
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def allowed_host() -> str:
    hosts = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
    for host in hosts:
        if host == "*":
            return "localhost"
        return host.lstrip(".")  # ".example.org" allows example.org and its subdomains
    return "localhost"


def main() -> int:
    port = int(os.environ.get("PORT", "8000"))
    url = f"http://127.0.0.1:{port}/healthz"
    request = urllib.request.Request(url, headers={"Host": allowed_host()})
    timeout_s = float(os.environ.get("HEALTHCHECK_TIMEOUT_S", "5"))
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as reply:
            body = reply.read().decode(errors="replace")
            status = reply.status
    except urllib.error.HTTPError as error:
        body, status = error.read().decode(errors="replace"), error.code
    except (OSError, ValueError) as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    if status != 200:
        print(f"{url}: HTTP {status} {body}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
