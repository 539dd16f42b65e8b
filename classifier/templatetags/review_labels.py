"""Review labels in recording lists: the user's own earlier label and the final label (issue 6).

In a recordings table (rows of Recording objects, or of objects with a `.recording`):

    {% load review_labels %}
    {% review_cells rows as cells %}            {# once per table: final labels batched, one query for yours #}
    ... {% for row in rows %} ... <td>{% review_cell cells row %}</td> ...
"""

from __future__ import annotations

from django import template
from django.utils.translation import gettext_lazy as _

from classifier.review import PRIORITY_REASONS, ReviewCell
from classifier.review import review_cells as _review_cells

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
    return _review_cells([_recording_id(row) for row in rows], user)


@register.inclusion_tag("classifier/_review_cell.html", takes_context=True)
def review_cell(context: template.Context, cells: dict[int, ReviewCell], row: object) -> dict:
    pk = _recording_id(row)
    return {"cell": cells.get(pk), "recording_id": pk, "user": context.get("user")}


@register.filter
def review_status_name(status: str) -> str:
    return str(REVIEW_STATUS_NAMES.get(status, status))


@register.filter
def review_reason(code: str) -> str:
    """Why an item is early in the queue, in words."""
    return str(PRIORITY_REASONS.get(code, code))
