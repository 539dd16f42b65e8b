"""Review labels in recording lists: the user's own earlier label and the final label (issue 6).

In a recordings table (rows of Recording objects, or of objects with a `.recording`):

    {% load review_labels %}
    {% review_cells rows as cells %}            {# once per table: final labels batched, one query for yours #}
    ... {% for row in rows %} ... <td>{% review_cell cells row %}</td> ...

and anywhere one label is shown: `{% review_label label %}`; the review queue's rows: `{% queue_row entry ... %}`.

Both are built in Python (format_html) rather than with inclusion templates: a results table shows 50 of them,
and Django's template engine made the review column a fifth of the page's server time (docs/benchmarks.md,
web under load).
"""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from classifier.final_labels import ShownPrediction
from classifier.review import PRIORITY_REASONS, ReviewCell
from classifier.review import review_cells as _review_cells
from classifier.selectors import RecordingRow
from classifier.templatetags.classifier_format import call_type_name, percent, species_name

register = template.Library()

REVIEW_STATUS_NAMES = {
    "not_reviewed": _("not reviewed"),
    "confirmed": _("confirmed"),
    "corrected": _("corrected"),
    "unsure": _("unsure"),
    "no_bat": _("no bat"),
    "awaiting_second_review": _("awaiting second review"),
    "disagreement": _("reviewers disagree"),
}


def _recording_id(row: object) -> int:
    return getattr(row, "recording", row).pk


@register.simple_tag(takes_context=True)
def review_cells(context: template.Context, rows) -> dict[int, ReviewCell]:
    request = context.get("request")
    user = getattr(request, "user", None)
    shown = None
    if rows and isinstance(rows[0], RecordingRow):  # they hold the shown prediction already
        shown = {row.recording.pk: ShownPrediction.of(row.prediction) for row in rows if row.prediction}
    return _review_cells([_recording_id(row) for row in rows], user, shown_predictions=shown)


@register.simple_tag(takes_context=True)
def review_cell(context: template.Context, cells: dict[int, ReviewCell], row: object) -> SafeString:
    """The review column of one row: the final label and, when the user decided on it, their own decision."""
    pk = _recording_id(row)
    cell = cells.get(pk)
    if cell is None:
        return format_html('<div class="review-cell" id="review-cell-{}"></div>', pk)
    parts = [format_html('<div data-final-label><span class="muted">{}</span> {}</div>',
                         gettext("Final:"), review_label(cell.final))]  # fmt: skip
    own = cell.own
    if own is not None:
        species = ", ".join(species_name(s) for s in own.species_present) if own.gives_label else ""
        parts.append(format_html(
            '<div class="muted" data-own-label>{} {}{} · {}</div>',
            gettext("You:"), own.get_status_display(), f" {species}" if species else "",
            date_format(localtime(own.decided_at), "Y-m-d H:i"),
        ))  # fmt: skip
    return format_html(
        '<div class="review-cell" id="review-cell-{}">{}</div>', pk, SafeString("".join(parts))
    )


@register.simple_tag
def review_label(label) -> SafeString:
    """A final label: species (names, scientific name as title), call types, review status and reviewer."""
    species = format_html_join(
        ", ", '<span title="{}">{}</span>', ((s, species_name(s)) for s in label.species_present)
    )
    call_types = ""
    if label.call_types:
        call_types = format_html(' <span class="muted">({})</span>',
                                 ", ".join(call_type_name(c) for c in label.call_types))  # fmt: skip
    reviewer = format_html(' <span class="muted">{}</span>', label.reviewer) if label.reviewer else ""
    status = label.review_status
    return format_html(
        '<span class="review-label" data-review-status="{}" data-source="{}"><span data-species>{}</span>{}'
        ' <span class="badge review-status review-status-{}">{}</span>{}</span>',
        status, label.source, species or "—", call_types, status, review_status_name(status), reviewer,
    )


@register.simple_tag
def queue_row(entry, project, filter_query: str) -> SafeString:
    """One row of the review queue's table (file, site, night, species, confidence, why first, state)."""
    url = reverse("review_item", args=[project.pk, entry.recording_id])
    reasons = format_html_join("", '<span class="badge">{}</span> ', ((review_reason(c),) for c in entry.reasons))
    return format_html(
        '<tr data-recording="{}"><td><a class="filename" href="{}">{}</a></td><td>{}</td><td>{}</td>'
        '<td title="{}">{}</td><td class="num">{}</td><td>{}</td><td>{}</td></tr>',
        entry.recording_id,
        f"{url}?{filter_query}" if filter_query else url,
        entry.recording.original_name,
        entry.site.code,
        date_format(entry.visit.night, "SHORT_DATE_FORMAT"),  # as the template filter `date` does
        entry.species,
        species_name(entry.species),
        percent(entry.confidence),
        reasons,
        entry.get_state_display(),
    )


@register.filter
def review_status_name(status: str) -> str:
    return str(REVIEW_STATUS_NAMES.get(status, status))


@register.filter
def review_reason(code: str) -> str:
    """Why an item is early in the queue, in words."""
    return str(PRIORITY_REASONS.get(code, code))
