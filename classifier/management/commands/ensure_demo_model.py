"""Make sure an active model exists: on a fresh machine, train the demo model on synthetic data.

The demo model uses the `quick` preset and synthetic calls only (the licensed real recordings in
../shared/data are not on a user's machine). The trained file is kept under var/ so a second
`make run` on the same machine registers it again instead of retraining.
"""

import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from classifier import services
from classifier.models import ModelVersion

DEMO_SEED = 7
DEMO_FILES_PER_CLASS = 12  # with the quick preset: under 3 minutes on 2 cores, data generation included


class Command(BaseCommand):
    help = "Train (quick preset, synthetic data) and activate a demo model when no model is active."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="train even if a model is active")

    def handle(self, *args, force: bool, **options):
        active = ModelVersion.objects.active()
        if active and not force:
            self.stdout.write(f"Active model: {active.name}")
            return
        demo_dir = Path(settings.VAR_DIR) / "demo-model"
        model_path = demo_dir / "demo-quick.pt"
        if force or not model_path.exists():
            self._train(demo_dir, model_path)
        version = services.model_version_register(path=model_path, name=None, activate=True)
        queued = services.analyses_queue_waiting()
        self.stdout.write(f"Active model: {version.name}; {queued} waiting recordings queued for analysis")

    def _train(self, demo_dir: Path, model_path: Path) -> None:
        from ml.synth import generate_dataset
        from ml.train import train

        data_dir = demo_dir / "synthetic"
        started = time.monotonic()
        self.stdout.write("No model yet: generating synthetic calls and training the demo model (quick preset)...")
        generate_dataset(data_dir, per_class=DEMO_FILES_PER_CLASS, seed=DEMO_SEED, difficulty="easy")

        def progress(update) -> None:
            sys.stdout.write(f"\r  {update.line()}".ljust(100))
            sys.stdout.flush()

        train([data_dir], model_path, preset="quick", seed=DEMO_SEED, progress=progress)
        sys.stdout.write("\n")
        self.stdout.write(f"Demo model trained in {time.monotonic() - started:.0f} s: {model_path}")
