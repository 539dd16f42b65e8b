"""Survey endpoints: projects, sites and visits to list; a visit to create; which recordings a project
already holds (by sha256); recordings uploaded to a visit.

Every lookup starts from the token's user through surveys.access, exactly like the web pages: a foreign
or missing id answers 404, and every member may create visits and upload (ARCHITECTURE.md, roles).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import File, Form, Path, Query, Router, Status
from ninja.files import UploadedFile as NinjaUploadedFile

from surveys import uploads
from surveys.access import get_project_for_user, get_site_for_user, get_visit_for_user
from surveys.api.auth import api_user
from surveys.api.errors import ApiError, errors
from surveys.api.schemas import (
    MAX_ID,
    MAX_OFFSET,
    MAX_PAGE,
    Page,
    ProjectOut,
    RecordingOut,
    Sha256,
    Sha256LookupIn,
    Sha256LookupOut,
    SiteOut,
    UploadOut,
    VisitIn,
    VisitOut,
    project_out,
)
from surveys.forms import VisitForm
from surveys.models import Membership, Project, Recording, Role, Site, Visit
from surveys.services import UploadOutcome, recordings_upload
from surveys.uploads import UploadRejected

router = Router(tags=["surveys"])

HASH_CHUNK_BYTES = 1024 * 1024


def _page(queryset: QuerySet, *, limit: int, offset: int) -> dict[str, Any]:
    return {"count": queryset.count(), "items": list(queryset[offset : offset + limit])}


def _roles(user: Any, projects: list[Project]) -> dict[int, str]:
    """Each project's role of the user in one query (staff act as managers everywhere)."""
    if user.is_staff:
        return {project.pk: Role.MANAGER for project in projects}
    memberships = Membership.objects.filter(user=user, project__in=projects).values_list("project_id", "role")
    return dict(memberships)


# --------------------------------------------------------------------------------------------- projects


@router.get("/projects", response={200: Page[ProjectOut], **errors(422)}, summary="List your projects")
def project_list(
    request: HttpRequest,
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    """Staff see every project; everyone else the projects they are a member of."""
    user = api_user(request)
    projects = Project.objects.for_user(user).order_by("name", "pk")
    page = _page(projects, limit=limit, offset=offset)
    roles = _roles(user, page["items"])
    page["items"] = [project_out(project, roles.get(project.pk)) for project in page["items"]]
    return page


@router.get("/projects/{project_id}", response={200: ProjectOut, **errors(404, 422)}, summary="One project")
def project_detail(request: HttpRequest, project_id: int = Path(..., ge=1, le=MAX_ID)) -> dict[str, Any]:
    user = api_user(request)
    project = get_project_for_user(user, project_id)
    return project_out(project, project.role_of(user))


@router.get(
    "/projects/{project_id}/sites",
    response={200: Page[SiteOut], **errors(404, 422)},
    summary="A project's sites",
)
def site_list(
    request: HttpRequest,
    project_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    project = get_project_for_user(api_user(request), project_id)
    return _page(Site.objects.filter(project=project).order_by("code", "pk"), limit=limit, offset=offset)


@router.post(
    "/projects/{project_id}/recordings/lookup",
    response={200: Sha256LookupOut, **errors(400, 404, 422)},
    summary="Which of these sha256 values the project already holds",
)
def recordings_lookup(
    request: HttpRequest, payload: Sha256LookupIn, project_id: int = Path(..., ge=1, le=MAX_ID)
) -> dict[str, Any]:
    """Send the SHA-256 of each file before uploading: files the project already holds (in any of its
    visits) need not be sent again. This is how the command-line client resumes an interrupted upload."""
    project = get_project_for_user(api_user(request), project_id)
    wanted = list(dict.fromkeys(value.lower() for value in payload.sha256))
    found = {
        sha: (recording_id, visit_id)
        for sha, recording_id, visit_id in Recording.objects.filter(
            project=project, sha256__in=wanted
        ).values_list("sha256", "pk", "visit_id")
    }
    return {
        "known": [
            {"sha256": sha, "recording_id": found[sha][0], "visit_id": found[sha][1]}
            for sha in wanted
            if sha in found
        ],
        "missing": [sha for sha in wanted if sha not in found],
    }


# --------------------------------------------------------------------------------------------- sites


@router.get("/sites/{site_id}", response={200: SiteOut, **errors(404, 422)}, summary="One site")
def site_detail(request: HttpRequest, site_id: int = Path(..., ge=1, le=MAX_ID)) -> Site:
    return get_site_for_user(api_user(request), site_id)


@router.get(
    "/sites/{site_id}/visits", response={200: Page[VisitOut], **errors(404, 422)}, summary="A site's visits"
)
def visit_list(
    request: HttpRequest,
    site_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    site = get_site_for_user(api_user(request), site_id)
    visits = Visit.objects.filter(site=site).select_related("site", "created_by").order_by("-night", "-pk")
    return _page(visits, limit=limit, offset=offset)


@router.post(
    "/sites/{site_id}/visits", response={201: VisitOut, **errors(400, 404, 422)}, summary="Create a visit"
)
def visit_create(request: HttpRequest, payload: VisitIn, site_id: int = Path(..., ge=1, le=MAX_ID)) -> Status:
    """Every member creates visits. The same rules as the visit form on the web apply."""
    user = api_user(request)
    site = get_site_for_user(user, site_id)
    data = {name: ("" if value is None else value) for name, value in payload.model_dump().items()}
    form = VisitForm(data, instance=Visit(site=site, created_by=user))
    if not form.is_valid():
        field, messages = next(iter(form.errors.items()))
        raise ApiError(422, "invalid", f"{field}: {messages[0]}" if field != "__all__" else messages[0],
                       None if field == "__all__" else field)  # fmt: skip
    return Status(201, form.save())


# --------------------------------------------------------------------------------------------- visits


@router.get("/visits/{visit_id}", response={200: VisitOut, **errors(404, 422)}, summary="One visit")
def visit_detail(request: HttpRequest, visit_id: int = Path(..., ge=1, le=MAX_ID)) -> Visit:
    return get_visit_for_user(api_user(request), visit_id)


@router.get(
    "/visits/{visit_id}/recordings",
    response={200: Page[RecordingOut], **errors(404, 422)},
    summary="A visit's recordings and their storage state",
)
def visit_recordings(
    request: HttpRequest,
    visit_id: int = Path(..., ge=1, le=MAX_ID),
    limit: int = Query(100, ge=1, le=MAX_PAGE),
    offset: int = Query(0, ge=0, le=MAX_OFFSET),
) -> dict[str, Any]:
    visit = get_visit_for_user(api_user(request), visit_id)
    recordings = Recording.objects.filter(visit=visit).select_related("visit").order_by("pk")
    return _page(recordings, limit=limit, offset=offset)


def _sha256_of(upload: UploadedFile) -> str:
    digest = hashlib.sha256()
    for chunk in upload.chunks(HASH_CHUNK_BYTES):
        digest.update(chunk)
    upload.seek(0)
    return digest.hexdigest()


def _damaged(upload: UploadedFile) -> UploadOutcome:
    return UploadOutcome(
        upload.name or "",
        "rejected",
        _(
            "%(name)s did not arrive whole: its SHA-256 differs from the one the client sent, so the upload "
            "was cut off or damaged on the way. Nothing of it was stored; send it again."
        )
        % {"name": uploads.base_name(upload.name or "")},
    )


@router.post(
    "/visits/{visit_id}/recordings",
    response={200: UploadOut, **errors(400, 404, 413, 422, 507)},
    summary="Upload recordings to a visit",
)
def visit_upload(
    request: HttpRequest,
    visit_id: int = Path(..., ge=1, le=MAX_ID),
    files: list[NinjaUploadedFile] = File(
        ..., description="WAV files, ZIPs of them, Batlogger XML sidecars."
    ),
    sha256: list[Sha256] = Form(
        [],
        description="Optional: the SHA-256 of each file, in the same order; a file whose content differs "
        "(cut off on the way) is rejected instead of stored.",
    ),
) -> dict[str, Any]:
    """The same checks, deduplication and limits as the upload on the visit page; one line per file.

    Answers 200 whenever the files were read, also when some (or all) were rejected or already present:
    the per-file `status` says what happened to each. Accepted files are stored and their metadata is read
    by a worker next (poll `GET /recordings/{id}`)."""
    # No transaction around this: the service commits file by file, so a late failure keeps earlier files.
    visit = get_visit_for_user(api_user(request), visit_id)
    if sha256 and len(sha256) != len(files):
        raise ApiError(
            422,
            "invalid",
            _("Send one sha256 value per file (%(files)d files, %(hashes)d values), or none.")
            % {"files": len(files), "hashes": len(sha256)},
            "sha256",
        )
    try:  # refuse the whole request up front, as the visit page does, when the disk is nearly full
        uploads.check_disk_space(incoming_bytes=sum(upload.size or 0 for upload in files))
    except UploadRejected as exc:
        raise ApiError(507, "insufficient_storage", str(exc), "files") from None
    checked: list[UploadedFile] = []
    damaged: list[UploadOutcome] = []
    for index, upload in enumerate(files):
        if sha256 and _sha256_of(upload) != sha256[index].strip().lower():
            damaged.append(_damaged(upload))
        else:
            checked.append(upload)
    outcomes = (
        recordings_upload(visit=visit, user=api_user(request), files=checked) if checked else []
    ) + damaged
    counts = Counter(outcome.status for outcome in outcomes)
    return {
        "accepted": counts["accepted"],
        "duplicate": counts["duplicate"],
        "rejected": counts["rejected"],
        "files": [
            {"name": o.name, "status": o.status, "message": o.message, "recording_id": o.recording_id}
            for o in outcomes
        ],
    }
