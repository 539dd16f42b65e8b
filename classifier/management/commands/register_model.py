"""Register a checkpoint file as a model version: `manage.py register_model MODEL.pt [--activate]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from classifier import services


class Command(BaseCommand):
    help = "Register a trained model file (a self-describing checkpoint) as a new model version."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path)
        parser.add_argument("--name", default=None)
        parser.add_argument("--activate", action="store_true", help="make it the active model")

    def handle(self, *args, path: Path, name: str | None, activate: bool, **options):
        if not path.is_file():
            raise CommandError(f"{path}: no such file")
        try:
            version = services.model_version_register(path=path, name=name, activate=activate)
        except services.ModelNameTaken as exc:
            raise CommandError(str(exc)) from exc
        except (ValueError, KeyError, RuntimeError) as exc:
            raise CommandError(f"{path}: not a Batsite model checkpoint ({exc})") from exc
        state = "active" if version.is_active else "inactive"
        self.stdout.write(f"Registered model version {version.name} ({state}), {len(version.label_set)} classes")
