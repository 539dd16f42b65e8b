"""Benchmark helper (run by hand): fill a database and media folder with N recordings of SIZE_KB random bytes
for timing scripts/backup.sh and scripts/restore.sh (docs/benchmarks.md). Usage: backup_fill.py N SIZE_KB."""
import datetime as dt, hashlib, os, sys
import django
django.setup()
from django.core.management import call_command
from surveys.models import Project, Recording, Site, Visit
n, size_kb = int(sys.argv[1]), int(sys.argv[2])
call_command("migrate", verbosity=0)
project = Project.objects.create(name="bench")
site = Site.objects.create(project=project, code="B1", name="bench", latitude=52.0, longitude=5.0)
visit = Visit.objects.create(site=site, night=dt.date(2025, 6, 12))
media, rows = os.environ["MEDIA_ROOT"], []
for i in range(n):
    content = os.urandom(size_kb * 1024)
    sha = hashlib.sha256(content).hexdigest()
    name = f"recordings/{project.pk}/{sha[:2]}/{sha}.wav"
    os.makedirs(os.path.join(media, os.path.dirname(name)), exist_ok=True)
    with open(os.path.join(media, name), "wb") as f:
        f.write(content)
    rows.append(Recording(project=project, visit=visit, file=name, sha256=sha, original_name=f"R{i}.wav",
                          size_bytes=len(content)))
Recording.objects.bulk_create(rows, batch_size=1000)
