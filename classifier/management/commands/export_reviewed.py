"""Export expert-labelled recordings as a training dataset: `manage.py export_reviewed OUT [--project ID]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier.review_export import review_export
from surveys.models import Project


class Command(BaseCommand):
    help = "Write confirmed, corrected and no-bat recordings as a dataset folder (WAVs, labels.csv, events.csv)."

    def add_arguments(self, parser):
        parser.add_argument("folder", type=Path, help="the dataset folder to write (created if missing)")
        parser.add_argument("--project", type=int, default=None, help="only this project (default: all)")
        parser.add_argument("--without-no-bat", action="store_true", help="leave out recordings labelled no bat")
        parser.add_argument("--without-events", action="store_true", help="write no events.csv rows")

    def handle(self, *args, folder: Path, project: int | None, without_no_bat: bool, without_events: bool, **options):
        chosen = None
        if project is not None:
            chosen = Project.objects.active().filter(pk=project).first()
            if chosen is None:
                raise CommandError(f"no project with id {project}")
        if folder.exists() and (folder / "labels.csv").exists():
            raise CommandError(f"{folder} already holds a dataset; choose an empty folder")
        summary = review_export(folder=folder, project=chosen, include_no_bat=not without_no_bat,
                                with_events=not without_events)  # fmt: skip
        self.stdout.write(
            f"Wrote {summary.files} recordings ({summary.events} labelled calls in {summary.files_with_events} "
            f"files) to {summary.folder}"
        )
        if summary.missing:
            self.stderr.write(f"{len(summary.missing)} recordings left out, their audio is missing: "
                              + ", ".join(map(str, summary.missing)))  # fmt: skip
