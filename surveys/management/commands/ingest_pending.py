"""`manage.py ingest_pending`: queue ingest again for uploads that never got it (broker down, lost task)."""

from __future__ import annotations

import datetime as dt

from django.core.management.base import BaseCommand, CommandParser

from surveys import services


class Command(BaseCommand):
    help = "Queue metadata ingest again for recordings still 'uploaded' after some minutes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than-minutes",
            type=float,
            default=10.0,
            help="Only recordings uploaded at least this long ago (default 10), so fresh ones are "
            "left alone.",
        )
        parser.add_argument(
            "--now",
            action="store_true",
            help="Ingest in this process instead of queueing (no worker or broker needed).",
        )

    def handle(self, *args: object, older_than_minutes: float, now: bool, **options: object) -> None:
        older_than = dt.timedelta(minutes=older_than_minutes)
        if now:
            ids = services.recordings_ingest_pending(older_than=older_than)
            self.stdout.write(f"Ingested {len(ids)} recording(s).")
        else:
            ids = services.recordings_ingest_requeue(older_than=older_than)
            self.stdout.write(f"Queued {len(ids)} recording(s) for ingest.")
