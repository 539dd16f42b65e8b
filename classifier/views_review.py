"""Expert review pages: the queue, the review screen and its decisions, bulk confirmation, double review, and
a night's labels.

Each page and its HTMX fragment come from one view and one template (`template_name += "#name"` when
request.htmx). Every lookup starts from the user: the project through surveys.access (404 for outsiders,
403 below the expert role), recordings through that project. The services in classifier.review check the
role again and do the writing.

- `review_queue`  the project's queue: filters, what is left, the first items; `#review-queue` for filters.
- `review_next`   the review screen of the next item (the "open the next item" of the speed target).
- `review_item`   the review screen of one recording; `#review-item` is what HTMX swaps between items.
- `review_decide` POST confirm / correct / unsure / no bat; answers the next item's `#review-item`.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from batsite.widgets import PlainSelect
from classifier import review
from classifier.models import QueueState, ReviewQueueEntry, ReviewStatus
from classifier.playback import SLOWDOWN
from ml import labels
from surveys.access import get_project_for_user, get_visit_for_user
from surveys.models import Project, Recording, Role, Visit

QUEUE_TEMPLATE = "classifier/review_queue.html"
ITEM_TEMPLATE = "classifier/review_item.html"
BULK_TEMPLATE = "classifier/review_bulk.html"
DOUBLE_TEMPLATE = "classifier/review_double.html"
VISIT_LABELS_TEMPLATE = "classifier/review_visit_labels.html"
QUEUE_PAGE_SIZE = 50
VISIT_LABELS_PER_PAGE = 100
FILTER_FIELDS = ("site", "visit", "species", "call_type", "status")


# --------------------------------------------------------------------------------------------- forms


class QueueFilterForm(forms.Form):
    site = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Site"), widget=PlainSelect
    )
    visit = forms.ModelChoiceField(
        queryset=None, required=False, label=gettext_lazy("Visit"), widget=PlainSelect
    )
    species = forms.CharField(required=False, label=gettext_lazy("Species"),
                              widget=forms.TextInput(attrs={"list": "review-vocabulary", "autocomplete": "off"}))
    call_type = forms.ChoiceField(required=False, label=gettext_lazy("Call type"), widget=PlainSelect)
    status = forms.ChoiceField(required=False, label=gettext_lazy("Status"), widget=PlainSelect)

    def __init__(self, data, *, project: Project, statuses=review.STATUS_FILTERS) -> None:
        super().__init__(data)
        self.fields["site"].queryset = project.sites.order_by("code")
        self.fields["visit"].queryset = Visit.objects.filter(site__project=project).select_related("site")
        self.fields["call_type"].choices = [("", _("any"))] + [(c, c.replace("_", " ")) for c in labels.CALL_TYPES]
        self.fields["status"].choices = [(s, QueueState(s).label) for s in statuses]

    def clean_species(self) -> str:
        text = self.cleaned_data["species"].strip()
        if not text:
            return ""
        label = labels.canonical(text)
        if label is None:
            raise forms.ValidationError(_("Unknown species."))
        return label

    def filters(self) -> review.QueueFilters:
        if not self.is_bound or not self.is_valid():
            return review.QueueFilters()
        data = self.cleaned_data
        return review.QueueFilters(
            site_id=data["site"].pk if data["site"] else None,
            visit_id=data["visit"].pk if data["visit"] else None,
            species=data["species"],
            call_type=data["call_type"] or "",
            status=data.get("status") or "to_review",
        )


class BulkForm(QueueFilterForm):
    min_confidence = forms.FloatField(label=gettext_lazy("Confidence at least"), min_value=0.0, max_value=1.0,
                                      initial=0.95)  # fmt: skip

    def __init__(self, data, *, project: Project) -> None:
        super().__init__(data, project=project, statuses=("to_review",))
        del self.fields["status"]
        self.fields["species"].required = True


class DoubleReviewForm(QueueFilterForm):
    size = forms.IntegerField(label=gettext_lazy("Sample size"), min_value=1, max_value=2000, initial=50)
    note = forms.CharField(label=gettext_lazy("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, data, *, project: Project) -> None:
        super().__init__(data, project=project, statuses=("to_review", "reviewed", "unsure"))


def _filter_query(request: HttpRequest) -> str:
    """The queue filters of this request, to carry on through links and form actions. Always in the query
    string, POST included: the decision form's own `species` field must not be mistaken for a filter."""
    return urlencode([(k, v) for k in FILTER_FIELDS for v in request.GET.getlist(k) if v])


def _with_query(url: str, query: str, **extra: object) -> str:
    parts = [p for p in (query, urlencode({k: v for k, v in extra.items() if v not in (None, "")})) if p]
    return url + ("?" + "&".join(parts) if parts else "")


# --------------------------------------------------------------------------------------------- helpers


def _get_review_project(user, project_id: int, *, minimum_role: str = Role.EXPERT) -> Project:
    return get_project_for_user(user, project_id, minimum_role=minimum_role)


def _get_project_recording(project: Project, recording_id: int) -> Recording:
    return get_object_or_404(project.recordings.select_related("visit__site"), pk=recording_id)


def _item_context(request: HttpRequest, *, project: Project, recording: Recording | None, filters: review.QueueFilters,
                  error: str = "", notice: str = "", found: list[ReviewQueueEntry] | None = None,
                  is_manager: bool | None = None) -> dict:  # fmt: skip
    """`found`: the queue entries just read for this item (it and the one after), when the caller has them."""
    query = _filter_query(request)
    known = {}
    if found is not None:  # what review_next just read: this item's entry and the one after it
        known = {"following": found[1] if len(found) > 1 else None}
        if found and recording is not None and found[0].recording_id == recording.pk:
            known["entry"] = found[0]
    if is_manager is None:
        is_manager = project.user_has_role(request.user, Role.MANAGER)
    screen = review.review_screen(project, request.user, recording, filters, is_manager=is_manager, **known)
    context = {
        "project": project,
        "screen": screen,
        "recording": recording,
        "filter_query": query,
        "queue_url": _with_query(reverse("review_queue", args=[project.pk]), query),
        "slowdown": SLOWDOWN,
        "error": error,
        "notice": notice,
        "vocabulary": review.picker_vocabulary(),
        "call_types": labels.CALL_TYPES,
    }
    if recording is not None:
        context["decide_url"] = _with_query(reverse("review_decide", args=[project.pk, recording.pk]), query)
    if screen.following is not None:
        context["next_url"] = _with_query(
            reverse("review_item", args=[project.pk, screen.following.recording_id]), query
        )
    if screen.previous is not None:
        context["previous_url"] = _with_query(
            reverse("review_item", args=[project.pk, screen.previous.recording_id]), query
        )
    return context


def _render_item(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    template_name = ITEM_TEMPLATE + ("#review-item" if request.htmx else "")
    response = render(request, template_name, context, status=status)
    if request.htmx and context["recording"] is not None:
        response["HX-Push-Url"] = _with_query(
            reverse("review_item", args=[context["project"].pk, context["recording"].pk]), context["filter_query"]
        )
    return response


def _queue_filters(request: HttpRequest, project: Project) -> review.QueueFilters:
    return QueueFilterForm(request.GET or None, project=project).filters()


# --------------------------------------------------------------------------------------------- the queue


@login_required
@require_GET
def review_queue(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _get_review_project(request.user, project_id)
    review.review_queue_sync(project=project, full=False)
    form = QueueFilterForm(request.GET or None, project=project)
    filters = form.filters()
    is_manager = project.user_has_role(request.user, Role.MANAGER)  # once: each lookup is a query
    entries: list[ReviewQueueEntry] = []
    for section in review.queue_sections(project, request.user, filters, is_manager=is_manager):
        if len(entries) >= QUEUE_PAGE_SIZE:
            break
        # Only what the table shows (classifier.templatetags.review_labels.queue_row): the recording's,
        # site's and visit's other columns (metadata, XML sidecar, notes, weather) are left unread.
        rows = section.select_related("recording", "site", "visit").only(
            "recording_id", "species", "confidence", "reasons", "state",
            "recording__original_name", "site__code", "visit__night",
        )  # fmt: skip
        entries.extend(rows[: QUEUE_PAGE_SIZE - len(entries)])
    query = _filter_query(request)
    context = {
        "project": project,
        "form": form,
        "filters": filters,
        "entries": entries,
        "left": review.review_left(project, request.user, filters, is_manager=is_manager),
        "filter_query": query,
        "next_url": _with_query(reverse("review_next", args=[project.pk]), query),
        "is_manager": is_manager,
        "vocabulary": review.picker_vocabulary(),
    }
    template_name = QUEUE_TEMPLATE + ("#review-queue" if request.htmx else "")
    return render(request, template_name, context)


@login_required
@require_GET
def review_next(request: HttpRequest, project_id: int) -> HttpResponse:
    """The review screen of the next item; `after=<entry id>` walks on behind a skipped or decided item."""
    project = _get_review_project(request.user, project_id)
    filters = _queue_filters(request, project)
    after = None
    if request.GET.get("after", "").isdigit():
        after = ReviewQueueEntry.objects.for_project(project).filter(pk=int(request.GET["after"])).first()
    is_manager = project.user_has_role(request.user, Role.MANAGER)
    found = review.review_next(project, request.user, filters, after=after, limit=2, is_manager=is_manager)
    recording = found[0].recording if found else None
    return _render_item(request, _item_context(request, project=project, recording=recording, filters=filters,
                                               found=found, is_manager=is_manager))  # fmt: skip


@login_required
@require_GET
def review_item(request: HttpRequest, project_id: int, recording_id: int) -> HttpResponse:
    project = _get_review_project(request.user, project_id)
    recording = _get_project_recording(project, recording_id)
    filters = _queue_filters(request, project)
    return _render_item(request, _item_context(request, project=project, recording=recording, filters=filters))


@login_required
@require_POST
def review_decide(request: HttpRequest, project_id: int, recording_id: int) -> HttpResponse:
    project = _get_review_project(request.user, project_id)
    recording = _get_project_recording(project, recording_id)
    filters = _queue_filters(request, project)
    action = request.POST.get("action", "")
    statuses = {"confirm": ReviewStatus.CONFIRMED, "correct": ReviewStatus.CORRECTED,
                "unsure": ReviewStatus.UNSURE, "no_bat": ReviewStatus.NO_BAT}  # fmt: skip
    try:
        if action not in statuses:
            raise review.ReviewError(_("Choose confirm, correct, unsure or no bat."))
        shown = request.POST.getlist("shown_species") if action == "confirm" else request.POST.getlist("species")
        typed = [request.POST.get("species_text", "")] if action != "confirm" else []
        call_types = request.POST.getlist("shown_call_types" if action == "confirm" else "call_types")
        review.decision_record(
            recording=recording, reviewer=request.user, status=statuses[action], species_present=[*shown, *typed],
            call_types=call_types, note=request.POST.get("note", ""),
        )  # fmt: skip
    except review.ReviewError as error:
        context = _item_context(request, project=project, recording=recording, filters=filters, error=str(error))
        return _render_item(request, context, status=422)
    entry = ReviewQueueEntry.objects.filter(recording=recording).first()
    if not request.htmx:
        return redirect(_with_query(reverse("review_next", args=[project.pk]), _filter_query(request),
                                    after=entry.pk if entry else None))  # fmt: skip
    is_manager = project.user_has_role(request.user, Role.MANAGER)
    found = review.review_next(project, request.user, filters, after=entry, limit=2, is_manager=is_manager)
    following = found[0].recording if found else None
    notice = _("Saved: %(name)s.") % {"name": recording.original_name}
    return _render_item(request, _item_context(request, project=project, recording=following, filters=filters,
                                               notice=notice, found=found, is_manager=is_manager))  # fmt: skip


# --------------------------------------------------------------------------------------------- bulk confirm


@login_required
@require_GET
def review_bulk(request: HttpRequest, project_id: int) -> HttpResponse:
    """Choose a set (species, confidence, site, ...) and see a random sample of it before confirming it."""
    project = _get_review_project(request.user, project_id)
    form = BulkForm(request.GET or None, project=project)
    sample = None
    if form.is_bound and form.is_valid():
        sample = review.bulk_confirm_sample(project=project, reviewer=request.user, filters=form.filters(),
                                            min_confidence=form.cleaned_data["min_confidence"])  # fmt: skip
    context = {"project": project, "form": form, "sample": sample, "vocabulary": review.picker_vocabulary(),
               "slowdown": SLOWDOWN}  # fmt: skip
    return render(request, BULK_TEMPLATE + ("#bulk-sample" if request.htmx else ""), context)


@login_required
@require_POST
def review_bulk_confirm(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _get_review_project(request.user, project_id)
    try:
        result = review.bulk_confirm(project=project, reviewer=request.user, token=request.POST.get("token", ""),
                                     note=request.POST.get("note", ""))  # fmt: skip
    except review.ReviewError as error:
        messages.error(request, str(error))
        return redirect("review_bulk", project.pk)
    messages.success(request, _("%(n)d recordings confirmed in bulk.") % {"n": result.confirmed})
    return redirect("review_queue", project.pk)


# --------------------------------------------------------------------------------------------- double review


@login_required
@require_GET
def review_double(request: HttpRequest, project_id: int) -> HttpResponse:
    """Agreement between independent reviewers (per species, Cohen's kappa), the samples, and (managers) a
    form to ask for a new sample."""
    project = _get_review_project(request.user, project_id)
    is_manager = project.user_has_role(request.user, Role.MANAGER)
    context = {
        "project": project,
        "agreement": review.double_review_agreement(project=project),
        "requests": review.double_review_progress(project=project),
        "form": DoubleReviewForm(None, project=project) if is_manager else None,
        "is_manager": is_manager,
        "vocabulary": review.picker_vocabulary(),
    }
    return render(request, DOUBLE_TEMPLATE + ("#double-review" if request.htmx else ""), context)


@login_required
@require_POST
def review_double_request(request: HttpRequest, project_id: int) -> HttpResponse:
    project = _get_review_project(request.user, project_id, minimum_role=Role.MANAGER)
    form = DoubleReviewForm(request.POST, project=project)
    if form.is_valid():
        try:
            requested = review.double_review_request(
                project=project, requested_by=request.user, filters=form.filters(), size=form.cleaned_data["size"],
                note=form.cleaned_data["note"],
            )  # fmt: skip
        except review.ReviewError as error:
            form.add_error(None, str(error))
        else:
            messages.success(request, _("%(n)d recordings sent to independent double review.")
                             % {"n": requested.items.count()})  # fmt: skip
            return redirect("review_double", project.pk)
    context = {
        "project": project, "agreement": review.double_review_agreement(project=project),
        "requests": review.double_review_progress(project=project), "form": form, "is_manager": True,
        "vocabulary": review.picker_vocabulary(),
    }  # fmt: skip
    return render(request, DOUBLE_TEMPLATE, context, status=422)


# --------------------------------------------------------------------------------------------- a night's labels


@login_required
@require_GET
def visit_review_labels(request: HttpRequest, visit_id: int) -> HttpResponse:
    """Every recording of a night with the user's own label and the final label (any member)."""
    visit = get_visit_for_user(request.user, visit_id)
    recordings = visit.recordings.order_by("recorded_at", "original_name", "pk")
    page = Paginator(recordings, VISIT_LABELS_PER_PAGE).get_page(request.GET.get("page") or 1)
    context = {
        "visit": visit,
        "site": visit.site,
        "project": visit.site.project,
        "page": page,
        "can_review": visit.site.project.user_has_role(request.user, Role.EXPERT),
    }
    return render(request, VISIT_LABELS_TEMPLATE + ("#visit-labels" if request.htmx else ""), context)
