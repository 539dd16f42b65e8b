"""Re-rank the review queue: `manage.py review_queue_refresh [--project ID]` (rarity changes as nights arrive)."""

from django.core.management.base import BaseCommand

from classifier.review import review_queue_refresh
from surveys.models import Project


class Command(BaseCommand):
    help = "Add missing review-queue entries and recompute every entry's priority."

    def add_arguments(self, parser):
        parser.add_argument("--project", type=int, default=None)

    def handle(self, *args, project: int | None, **options):
        projects = Project.objects.active()
        if project is not None:
            projects = projects.filter(pk=project)
        for chosen in projects:
            ranked = review_queue_refresh(project=chosen)
            self.stdout.write(f"{chosen}: {ranked} entries ranked")
