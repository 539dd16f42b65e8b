"""Staff pages for the learning loop: Xeno-Canto imports, retraining runs, model versions (compare, promote,
roll back). Every view is staff-only (403 for other users, the login page for visitors).

Long jobs show progress the STYLE.md way: the page holds a fragment that polls its own view every second
(`hx-get` on the element, HX-Target = its id) and the view answers 286 (stop polling) once the job row says
done, failed or cancelled. Promote, roll back, cancel and start are explicit POST actions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classifier import training, xenocanto_import
from classifier.models import ModelVersion, TrainingRun, XenoCantoImport, XenoCantoRecording
from classifier.views._common import HTMX_STOP_POLLING
from ml import labels
from ml.xenocanto import LICENCE_CODES
from surveys.access import require_staff
from surveys.models import Visit

LICENCE_CHOICES = [
    ("cc0", "CC0"), ("by", "CC BY"), ("by-sa", "CC BY-SA"), ("by-nc", "CC BY-NC"), ("by-nc-sa", "CC BY-NC-SA"),
    ("by-nd", "CC BY-ND"), ("by-nc-nd", "CC BY-NC-ND"),
]  # fmt: skip
PROMOTE_VISIT_CHOICES = 200  # the most recent nights offered for re-analysis


def staff_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Log in first; then staff only (403 for anyone else)."""

    @login_required
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        require_staff(request.user)
        return view(request, *args, **kwargs)

    return wrapped


def _polled(request: HttpRequest, target: str) -> bool:
    return bool(request.htmx) and request.htmx.target == target


# --------------------------------------------------------------------------------------------- forms


class XenoCantoImportForm(forms.Form):
    query = forms.CharField(
        label=gettext_lazy("Query"), max_length=500, initial="grp:bats cnt:netherlands",
        help_text=gettext_lazy('Xeno-Canto tags, e.g. grp:bats gen:Myotis type:"social call" smp:">200000"'),
    )  # fmt: skip
    limit = forms.IntegerField(label=gettext_lazy("At most this many recordings"), min_value=1,
                               max_value=xenocanto_import.MAX_LIMIT, initial=50)  # fmt: skip
    licences = forms.MultipleChoiceField(
        label=gettext_lazy("Licences allowed"), choices=LICENCE_CHOICES, widget=forms.CheckboxSelectMultiple,
        initial=list(LICENCE_CODES),
        help_text=gettext_lazy("Most bat recordings are non-commercial (BY-NC); ND forbids adapted material."),
    )  # fmt: skip


class TrainingRunForm(forms.Form):
    use_xeno_canto = forms.BooleanField(
        label=gettext_lazy("Xeno-Canto imports"), required=False, initial=True
    )
    licences = forms.MultipleChoiceField(
        label=gettext_lazy("Xeno-Canto licences allowed"), choices=LICENCE_CHOICES, required=False,
        widget=forms.CheckboxSelectMultiple, initial=list(LICENCE_CODES),
    )  # fmt: skip
    use_reviewed = forms.BooleanField(
        label=gettext_lazy("Expert-confirmed recordings"), required=False, initial=True
    )
    use_synthetic = forms.BooleanField(label=gettext_lazy("Synthetic calls"), required=False, initial=False)
    synthetic_per_class = forms.IntegerField(label=gettext_lazy("Synthetic files per class"), min_value=0,
                                             max_value=500, initial=10)  # fmt: skip
    preset = forms.ChoiceField(label=gettext_lazy("Preset"), initial="quick")
    seed = forms.IntegerField(label=gettext_lazy("Seed"), initial=0, min_value=0, max_value=2**31 - 1)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = [
            (name, f"{name}: {training.PRESET_HELP.get(name, '')}") for name in training.training_presets()
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not (data.get("use_xeno_canto") or data.get("use_reviewed") or data.get("use_synthetic")):
            raise forms.ValidationError(_("Choose at least one source of training data."))
        if data.get("use_xeno_canto") and not data.get("licences"):
            self.add_error("licences", _("Allow at least one licence, or leave out the Xeno-Canto imports."))
        if data.get("use_synthetic") and not data.get("synthetic_per_class"):
            self.add_error("synthetic_per_class", _("Synthetic data needs at least one file per class."))
        return data


class PromoteForm(forms.Form):
    visits = forms.TypedMultipleChoiceField(
        label=gettext_lazy("Re-analyse these nights with it"), coerce=int, required=False,
        widget=forms.CheckboxSelectMultiple,
    )  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        recent = Visit.objects.select_related("site__project").order_by("-night", "-pk")[
            :PROMOTE_VISIT_CHOICES
        ]
        self.fields["visits"].choices = [
            (v.pk, f"{v.site.project.name} · {v.site.code} · {v.night:%Y-%m-%d}") for v in recent
        ]


# --------------------------------------------------------------------------------------------- Xeno-Canto


@staff_required
@require_http_methods(["GET", "POST"])
def xenocanto_imports(request: HttpRequest) -> HttpResponse:
    """The import form and the list of imports."""
    form = XenoCantoImportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = xenocanto_import.xenocanto_import_start(
                query=form.cleaned_data["query"], limit=form.cleaned_data["limit"],
                licences=form.cleaned_data["licences"], user=request.user,
            )  # fmt: skip
        except xenocanto_import.ImportRequestError as exc:
            form.add_error("query", str(exc))
        else:
            messages.success(request, _("Import queued."))
            return redirect("xenocanto_import_detail", job_id=job.pk)
    context = {
        "form": form,
        "jobs": XenoCantoImport.objects.select_related("requested_by")[:50],
        "has_key": bool(xenocanto_import.api_key()),
        "library_count": XenoCantoRecording.objects.count(),
    }
    return render(
        request, "classifier/xenocanto_import_list.html", context, status=400 if form.errors else 200
    )


@staff_required
@require_GET
def xenocanto_import_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    """One import: live progress (the `import-progress` fragment polls this view), then what it found."""
    job = get_object_or_404(XenoCantoImport.objects.select_related("requested_by"), pk=job_id)
    template = "classifier/xenocanto_import_detail.html"
    if _polled(request, "import-progress"):
        return render(request, f"{template}#progress", {"job": job},
                      status=HTMX_STOP_POLLING if job.is_finished else 200)  # fmt: skip
    recordings = job.recordings.order_by("species", "xc_id")[:500]
    return render(request, template, {"job": job, "recordings": recordings})


@staff_required
@require_POST
def xenocanto_import_cancel(request: HttpRequest, job_id: int) -> HttpResponse:
    job = get_object_or_404(XenoCantoImport, pk=job_id)
    xenocanto_import.xenocanto_import_cancel(job=job)
    messages.info(request, _("The import stops after the recording it is fetching."))
    return redirect("xenocanto_import_detail", job_id=job.pk)


@staff_required
@require_GET
def xenocanto_recordings(request: HttpRequest) -> HttpResponse:
    """The library of imported recordings with their licences, filterable by licence and species."""
    rows = XenoCantoRecording.objects.all()
    licence = request.GET.get("licence", "")
    species = request.GET.get("species", "")
    if licence:
        rows = rows.filter(licence=licence)
    if species:
        rows = rows.filter(species=species)
    page = Paginator(rows.order_by("species", "xc_id"), 100).get_page(request.GET.get("page"))
    context = {
        "page": page,
        "licence": licence,
        "species": species,
        "licence_counts": XenoCantoRecording.objects.values("licence").annotate(n=Count("pk")).order_by("-n"),
        "species_counts": XenoCantoRecording.objects.values("species").annotate(n=Count("pk")).order_by("-n"),
    }
    return render(request, "classifier/xenocanto_recording_list.html", context)


# --------------------------------------------------------------------------------------------- training


@staff_required
@require_http_methods(["GET", "POST"])
def training_runs(request: HttpRequest) -> HttpResponse:
    """ "Train a new model": the data form and the list of runs."""
    form = TrainingRunForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = training.training_run_start(
                user=request.user, use_xeno_canto=data["use_xeno_canto"], use_reviewed=data["use_reviewed"],
                use_synthetic=data["use_synthetic"], synthetic_per_class=data["synthetic_per_class"] or 0,
                licences=data["licences"] if data["use_xeno_canto"] else (), preset=data["preset"],
                seed=data["seed"] or 0,
            )  # fmt: skip
        except training.TrainingError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Training run queued."))
            return redirect("training_run_detail", run_id=run.pk)
    context = {
        "form": form,
        "runs": TrainingRun.objects.select_related("model_version", "requested_by")[:50],
        "library_count": XenoCantoRecording.objects.count(),
        "active": ModelVersion.objects.active(),
    }
    return render(request, "classifier/training_run_list.html", context, status=400 if form.errors else 200)


@staff_required
@require_GET
def training_run_detail(request: HttpRequest, run_id: int) -> HttpResponse:
    """One run: the progress bar (the `training-progress` fragment polls this view), then its result."""
    run = get_object_or_404(TrainingRun.objects.select_related("model_version", "compared_with"), pk=run_id)
    template = "classifier/training_run_detail.html"
    if _polled(request, "training-progress"):
        return render(request, f"{template}#progress", {"run": run},
                      status=HTMX_STOP_POLLING if run.is_finished else 200)  # fmt: skip
    return render(request, template, {"run": run})


@staff_required
@require_POST
def training_run_cancel(request: HttpRequest, run_id: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=run_id)
    training.training_run_cancel(run=run)
    if request.htmx:
        return render(request, "classifier/training_run_detail.html#progress", {"run": run})
    messages.info(request, _("The run stops at its next check (within a few seconds)."))
    return redirect("training_run_detail", run_id=run.pk)


# --------------------------------------------------------------------------------------------- models


@staff_required
@require_GET
def model_versions(request: HttpRequest) -> HttpResponse:
    versions = ModelVersion.objects.order_by("-created_at", "-pk")[:100]
    return render(request, "classifier/model_version_list.html", {"versions": versions})


@dataclass(frozen=True)
class ScoreRow:
    label: str
    values: tuple[str, ...]  # one formatted cell per model ("" when the model has no such score)


@dataclass(frozen=True)
class Matrix:
    labels: tuple[str, ...]
    rows: tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class SideBySide:
    """The comparison of a training run laid out for the page: one column per model."""

    names: tuple[str, ...]
    test_files: int
    summary: tuple[ScoreRow, ...]
    per_class_f1: tuple[ScoreRow, ...]
    matrices: tuple[Matrix | None, ...]
    reliability: tuple[tuple[dict[str, float], ...], ...]


def _number(value: Any, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, int | float) else ""


def short_name(label: str) -> str:
    """ "Pipistrellus pipistrellus" -> "P. pipistrellus" (pairs too), so a confusion matrix fits the page."""
    genus, _, rest = label.partition(" ")
    return f"{genus[0]}. {rest}" if rest and labels.is_species(f"{genus} {rest.split('/')[0]}") else label


def _matrix(head: dict[str, Any] | None) -> Matrix | None:
    if not head or not head.get("labels"):
        return None
    names, confusion = head["labels"], head["confusion"]
    shown = [i for i in range(len(names)) if sum(confusion[i]) or sum(row[i] for row in confusion)]
    rows = tuple((short_name(names[i]), tuple(confusion[i][j] for j in shown)) for i in shown)
    return Matrix(tuple(short_name(names[i]) for i in shown), rows)


def side_by_side(
    scores: Sequence[dict[str, Any] | None],
    names: Sequence[str],
    test_files: int,
    *,
    with_baseline: bool = True,
) -> SideBySide:
    """Rows for the comparison tables from the stored scores (classifier.training.model_compare)."""
    present = [s or {} for s in scores]
    summary_fields = [
        (_("Species macro-F1 (calls)"), "call", "macro_f1_species"),
        (_("Species macro-F1 (recordings)"), "recording", "macro_f1_species"),
        (_("Call-type macro-F1 (calls)"), "call", "macro_f1_call_type"),
        (_("Species accuracy (calls)"), "call", "accuracy_species"),
        (_("Group accuracy after fallback (calls)"), "call", "accuracy_group"),
        (_("Calibration error, ECE (calls; lower is better)"), "call", "ece"),
        (_("Baseline species macro-F1 (calls)"), "call", "baseline_macro_f1_species"),
        (_("Calls scored"), "call", "n"),
    ]
    if not with_baseline:
        summary_fields = [f for f in summary_fields if not f[2].startswith("baseline_")]
    summary = []
    for title, level, key in summary_fields:
        cells = []
        for s in present:
            block = s.get(level) or {}
            if key.startswith("baseline_"):
                value = (block.get("baseline") or {}).get(key.removeprefix("baseline_"))
            else:
                value = (block.get("cnn") or {}).get(key)
            cells.append(str(value) if key == "n" and value is not None else _number(value))
        summary.append(ScoreRow(title, tuple(cells)))
    per_class: dict[str, list[str]] = {}
    for column, s in enumerate(present):
        classes = (((s.get("call") or {}).get("cnn") or {}).get("species") or {}).get("per_class", {})
        for label, score in classes.items():
            per_class.setdefault(label, [""] * len(present))[column] = (
                f"{score['f1']:.3f} (n={score['support']})"
            )
    order = {label: i for i, label in enumerate(training.candidate_classes())}
    per_class_rows = tuple(ScoreRow(label, tuple(cells)) for label, cells in sorted(per_class.items(),
                           key=lambda item: order.get(item[0], len(order))))  # fmt: skip
    return SideBySide(
        names=tuple(names),
        test_files=test_files,
        summary=tuple(summary),
        per_class_f1=per_class_rows,
        matrices=tuple(_matrix(((s.get("call") or {}).get("cnn") or {}).get("species")) for s in present),
        reliability=tuple(tuple(s.get("reliability") or ()) for s in present),
    )


def _own_scores(version: ModelVersion) -> SideBySide | None:
    """The version's own checkpoint scores: CNN beside the call-parameter baseline on its test split."""
    test = (version.metrics or {}).get("test")
    if not test:
        return None
    cnn = {
        "call": {"cnn": test.get("cnn", {}).get("call")},
        "recording": {"cnn": test.get("cnn", {}).get("recording")},
    }
    base = {"call": {"cnn": test.get("baseline", {}).get("call")},
            "recording": {"cnn": test.get("baseline", {}).get("recording")}}  # fmt: skip
    return side_by_side([cnn, base], [_("CNN"), _("call-parameter baseline")], 0, with_baseline=False)


@staff_required
@require_GET
def model_version_detail(request: HttpRequest, version_id: int) -> HttpResponse:
    """The model page: this version beside the one it was compared with, its data, promote / roll back."""
    version = get_object_or_404(ModelVersion, pk=version_id)
    run = version.training_runs.select_related("compared_with").order_by("-pk").first()
    active = ModelVersion.objects.active()
    comparison = None
    if run is not None and run.comparison:
        scores = [run.comparison.get("new"), run.comparison.get("current")]
        names = [version.name, run.compared_with.name if run.compared_with else _("no active model then")]
        comparison = side_by_side(scores, names, len(run.comparison.get("test_files", [])))
    manifest_files = (version.manifest or {}).get("files", [])
    context = {
        "version": version,
        "run": run,
        "active": active,
        "comparison": comparison,
        "own_scores": _own_scores(version),
        "previous": training.previous_active_version(version) if version.is_active else None,
        "promote_form": PromoteForm() if not version.is_active else None,
        "manifest_files": manifest_files[:500],
        "manifest_count": len(manifest_files),
        "splits": {
            s: sum(1 for f in manifest_files if f.get("split") == s) for s in ("train", "validation", "test")
        },
    }
    return render(request, "classifier/model_version_detail.html", context)


@staff_required
@require_POST
def model_version_promote(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=version_id)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose nights from the list."))
        return redirect("model_version_detail", version_id=version.pk)
    visits = Visit.objects.filter(pk__in=form.cleaned_data["visits"])
    result = training.model_version_promote(model_version=version, visits=visits)
    messages.success(request, _("%(name)s is now the active model; %(count)d recordings queued for re-analysis.")
                     % {"name": version.name, "count": result.queued})  # fmt: skip
    return redirect("model_version_detail", version_id=version.pk)


@staff_required
@require_POST
def model_version_roll_back(request: HttpRequest, version_id: int) -> HttpResponse:
    version = get_object_or_404(ModelVersion, pk=version_id)
    try:
        previous = training.model_version_roll_back(model_version=version)
    except training.TrainingError as exc:
        messages.error(request, str(exc))
        return redirect("model_version_detail", version_id=version.pk)
    messages.success(request, _("Rolled back: %(name)s is the active model again.") % {"name": previous.name})
    return redirect("model_version_detail", version_id=previous.pk)
