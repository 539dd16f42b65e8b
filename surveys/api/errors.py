"""Every API error is JSON of one shape, `{"code", "message", "field"}`, with the fitting 4xx status.

- `code` is stable and meant for programs (`not_found`, `invalid`, `unauthorized`, ...);
- `message` is for people, in the language the client asked for (Accept-Language), and says what to do;
- `field` names the input at fault (`night`, `files`, `sha256.3`), or is null.

`install_error_handlers(api)` maps what views and ninja raise onto that shape: `ApiError` (ours), ninja's
validation and HTTP errors, Django's Http404 / PermissionDenied (raised by surveys.access, so a foreign id
answers exactly like a missing one) and request-size refusals. Anything else is logged and answered 500 in
the same shape, so a client never has to parse an HTML error page.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from functools import wraps
from typing import TYPE_CHECKING, Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils.translation import gettext as _
from ninja import Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError

if TYPE_CHECKING:
    from ninja import NinjaAPI

log = logging.getLogger(__name__)

CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    422: "invalid",
    429: "throttled",
    507: "insufficient_storage",
}


class ErrorOut(Schema):
    code: str
    message: str
    field: str | None = None


class ApiError(Exception):
    """Raised by API views for an answer in the error shape."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field


def error_body(code: str, message: str, field: str | None = None) -> dict[str, str | None]:
    return {"code": code, "message": message, "field": field}


def error_response(status: int, code: str, message: str, field: str | None = None) -> JsonResponse:
    return JsonResponse(error_body(code, message, field), status=status)


def errors(*statuses: int) -> dict[int, type[ErrorOut]]:
    """The `response=` entries of an operation's documented error statuses (401 always: every call needs a
    token)."""
    return {status: ErrorOut for status in sorted({401, *statuses})}


def not_found_message() -> str:
    return _("Not found, or in a project you are not a member of.")


def _field_of(location: Iterable[Any]) -> str | None:
    # ninja puts the source first ("body", "query", "path", "file"); the rest is the field's path.
    parts = [str(part) for part in list(location)[1:]]
    if parts and parts[0] == "payload":  # a whole-body schema parameter: its fields are what matter
        parts = parts[1:]
    return ".".join(parts) or None


def _validation_message(error: dict[str, Any]) -> str:
    field = _field_of(error.get("loc", ()))
    message = str(error.get("msg", _("Invalid value.")))
    return f"{field}: {message}" if field else message


def install_error_handlers(api: NinjaAPI) -> None:
    def respond(
        request: HttpRequest, status: int, code: str, message: str, field: str | None = None
    ) -> HttpResponse:
        return api.create_response(request, error_body(code, message, field), status=status)

    def on_api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
        return respond(request, exc.status, exc.code, exc.message, exc.field)

    def on_validation(request: HttpRequest, exc: ValidationError) -> HttpResponse:
        first = exc.errors[0] if exc.errors else {}
        message = "; ".join(_validation_message(error) for error in exc.errors[:5]) or _("Invalid input.")
        return respond(request, 422, "invalid", message, _field_of(first.get("loc", ())))

    def on_authentication(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        response = respond(
            request,
            401,
            "unauthorized",
            _(
                "Send a valid API token as `Authorization: Bearer <token>`. Make one on your profile page; a "
                "revoked token no longer works."
            ),
        )
        response["WWW-Authenticate"] = 'Bearer realm="batsite"'
        return response

    def on_http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
        status = exc.status_code
        return respond(request, status, CODES_BY_STATUS.get(status, "error"), str(exc))

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        return respond(request, 404, "not_found", not_found_message())

    def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        return respond(request, 403, "forbidden", str(exc) or _("You may not do this in this project."))

    def on_too_big(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
        return respond(request, 413, "too_large", _("The request is too large."))

    def on_bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
        return respond(
            request, 400, "bad_request", _("The request could not be read: %(error)s") % {"error": exc}
        )

    def on_unexpected(request: HttpRequest, exc: Exception) -> HttpResponse:
        log.error("API error on %s %s", request.method, request.path, exc_info=exc)
        return respond(
            request,
            500,
            "server_error",
            _("Something went wrong on the server; it was logged. Try again later."),
        )

    api.add_exception_handler(ApiError, on_api_error)
    api.add_exception_handler(ValidationError, on_validation)
    api.add_exception_handler(AuthenticationError, on_authentication)
    api.add_exception_handler(HttpError, on_http_error)
    api.add_exception_handler(Http404, on_not_found)
    api.add_exception_handler(PermissionDenied, on_forbidden)
    api.add_exception_handler(RequestDataTooBig, on_too_big)
    api.add_exception_handler(SuspiciousOperation, on_bad_request)  # too many fields or files, bad names
    api.add_exception_handler(MultiPartParserError, on_bad_request)
    api.add_exception_handler(Exception, on_unexpected)


def body_limit(
    max_bytes: Callable[[], int],
) -> Callable[[Callable[..., HttpResponse]], Callable[..., HttpResponse]]:
    """Refuse a request whose declared body is larger than `max_bytes()` before any of it is read.

    Applied with ninja's `decorate_view`, so it runs before the body is parsed (and spooled to disk).
    """

    def decorator(run: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
        @wraps(run)
        def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            try:
                declared = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                declared = 0
            limit = max_bytes()
            if declared > limit:
                return error_response(
                    413,
                    "too_large",
                    _("The request is %(size)d MB, more than the limit of %(limit)d MB.")
                    % {"size": declared // (1024 * 1024), "limit": limit // (1024 * 1024)},
                    "file",
                )
            return run(request, *args, **kwargs)

        return checked

    return decorator


def reject_unknown_query(view_func: Callable[..., Any]) -> Callable[..., Any]:
    """Answer 422 for a query parameter the operation does not take (a typo such as `date_form` would
    otherwise quietly give an unfiltered report). Installed on every operation with
    `api.add_decorator(reject_unknown_query)`; runs after auth and the parameters' own validation."""
    operation = getattr(view_func, "_ninja_operation", None)
    allowed: set[str] = set()
    for model in getattr(operation, "models", ()):
        if getattr(model, "__ninja_param_source__", None) == "query":
            allowed.update(field.alias or name for name, field in model.model_fields.items())

    @wraps(view_func)
    def checked(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        unknown = [name for name in request.GET if name not in allowed]
        if unknown:
            raise ApiError(
                422,
                "invalid",
                _("Unknown query parameter “%(name)s”. This operation takes: %(allowed)s.")
                % {"name": unknown[0], "allowed": ", ".join(sorted(allowed)) or _("none")},
                unknown[0],
            )
        return view_func(request, *args, **kwargs)

    return checked
