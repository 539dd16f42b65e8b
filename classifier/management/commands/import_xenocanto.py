"""Import Xeno-Canto recordings into the library.

    manage.py import_xenocanto "grp:bats cnt:netherlands" --limit 50 --licence by --licence by-sa


The same service as the staff page (classifier.xenocanto_import), run here in the foreground (or queued on the
training queue with --queue). The key comes from the XENO_CANTO_API_KEY setting.
"""

from django.core.management.base import BaseCommand, CommandError

from classifier import xenocanto_import
from classifier.models import JobState
from ml.xenocanto import LICENCE_CODES


class Command(BaseCommand):
    help = "Import Xeno-Canto bat recordings (with licence and attribution) into the local library."

    def add_arguments(self, parser):
        parser.add_argument("query", help='tagged query, e.g. "grp:bats cnt:netherlands q:A"')
        parser.add_argument("--limit", type=int, default=50, help="at most this many recordings (default 50)")
        parser.add_argument("--licence", action="append", choices=LICENCE_CODES, default=None,
                            help="allow this licence; repeat for several (default: any)")  # fmt: skip
        parser.add_argument(
            "--queue", action="store_true", help="queue it for a worker instead of running it here"
        )

    def handle(self, *args, query: str, limit: int, licence: list[str] | None, queue: bool, **options):
        if not xenocanto_import.api_key():
            raise CommandError(
                "No Xeno-Canto API key: set XENO_CANTO_API_KEY (see https://xeno-canto.org/account)."
            )
        try:
            job = xenocanto_import.xenocanto_import_start(
                query=query, limit=limit, licences=licence or (), queue=queue
            )
        except xenocanto_import.ImportRequestError as exc:
            raise CommandError(str(exc)) from None
        if queue:
            self.stdout.write(f"Import {job.pk} queued on the training queue.")
            return
        xenocanto_import.xenocanto_import_run(job_id=job.pk)
        job.refresh_from_db()
        summary = job.summary or {}
        self.stdout.write(
            f"Import {job.pk} {job.state}: {job.imported} imported ({job.downloaded} downloaded), "
            f"{job.skipped} skipped of {job.found} found."
        )
        for title, key in (("Licences", "licences"), ("Skipped", "skip_reasons"),
                           ("Species outside the vocabulary", "unknown_species"),
                           ("Sound types without a call type", "unknown_sound_types")):  # fmt: skip
            if summary.get(key):
                self.stdout.write(f"  {title}: " + ", ".join(f"{k}: {v}" for k, v in summary[key].items()))
        if job.state != JobState.DONE:
            raise CommandError(job.error or f"import {job.state}")
