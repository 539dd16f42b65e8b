"""Spectrogram and occlusion pictures of an analysis, drawn on first view and cached (flow step 4).

Analysis never draws (a night is analysed faster without matplotlib); the first request for a picture
draws it through `ml.plots`, stores the PNG in media storage and records it as a `RenderedImage`; later
requests stream the stored file. A picture is stale once its analysis ran again (a re-run replaces the
calls), so it is redrawn when it is older than the analysis's `finished_at`.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction

from classifier import model_cache
from classifier.models import Analysis, AnalysisState, RenderedImage
from classifier.storage_files import local_path

logger = logging.getLogger(__name__)

KINDS = (RenderedImage.Kind.SPECTROGRAM, RenderedImage.Kind.OCCLUSION)


class ImageUnavailable(Exception):
    """The analysis has no results to draw (not done yet, or failed)."""


def _is_fresh(image: RenderedImage, analysis: Analysis) -> bool:
    if analysis.finished_at is not None and image.created_at < analysis.finished_at:
        return False
    return image.file.storage.exists(image.file.name)


def cached_image(*, analysis: Analysis, kind: str) -> RenderedImage | None:
    image = RenderedImage.objects.filter(analysis=analysis, kind=kind).first()
    if image is not None and _is_fresh(image, analysis):
        return image
    return None


def analysis_image(*, analysis: Analysis, kind: str) -> RenderedImage:
    """The cached picture of `kind` for a done analysis, drawn now if there is none (or a stale one)."""
    if kind not in KINDS:
        raise ValueError(f"unknown image kind {kind!r}")
    if analysis.state != AnalysisState.DONE:
        raise ImageUnavailable(f"analysis {analysis.pk} is {analysis.state}")
    image = cached_image(analysis=analysis, kind=kind)
    if image is not None:
        return image
    started = time.perf_counter()
    png = _draw(analysis, kind)
    image = _store(analysis, kind, png)
    logger.info(
        "Drew the %s of analysis %s in %.0f ms", kind, analysis.pk, (time.perf_counter() - started) * 1000
    )
    return image


def _title(analysis: Analysis) -> str:
    return f"{analysis.recording.original_name} · {analysis.model_version.name}"


def _draw(analysis: Analysis, kind: str) -> bytes:
    from ml.audio import load_audio
    from ml.plots import plot_occlusion, plot_spectrogram
    from ml.spectrogram import compute_spectrogram

    calls = list(analysis.calls.order_by("start_s"))  # CallDetection rows fit ml.plots.CallBox
    time_expansion = analysis.recording.time_expansion or None
    with local_path(analysis.recording.file) as path:
        audio = load_audio(path, time_expansion=time_expansion)
        if kind == RenderedImage.Kind.SPECTROGRAM:
            # The default display configuration: no model needs loading to draw what was stored.
            spectrogram = compute_spectrogram(audio.samples, audio.sample_rate_hz)
            return plot_spectrogram(spectrogram, calls, title=_title(analysis))
        from ml.explain import occlude
        from ml.infer import InferConfig, analyse_audio

        model = model_cache.loaded_model(analysis.model_version)
        # The answer is explained as the analysis gave it: same model, threshold and pass gap; the audio is
        # decoded once for both the re-analysis and the picture.
        config = InferConfig(
            confidence_threshold=settings.CONFIDENCE_THRESHOLD, pass_gap_s=settings.PASS_GAP_S
        )
        result, spectrogram = analyse_audio(path, audio, model, config=config)
        occlusion = occlude(spectrogram, result, model)
        return plot_occlusion(spectrogram, occlusion, calls)


def _store(analysis: Analysis, kind: str, png: bytes) -> RenderedImage:
    """Save the PNG and its row; a stale row is replaced, and of two simultaneous first views one wins."""
    name = f"{analysis.recording.project_id}/{analysis.pk}-{kind}.png"
    with transaction.atomic():
        old = RenderedImage.objects.select_for_update().filter(analysis=analysis, kind=kind).first()
        if old is not None:
            if _is_fresh(old, analysis):  # another request drew it meanwhile
                return old
            old.file.delete(save=False)
            old.delete()
        image = RenderedImage(analysis=analysis, kind=kind)
        image.file.save(name, ContentFile(png), save=False)
        try:
            with transaction.atomic():
                image.save()
        except IntegrityError:
            image.file.delete(save=False)
            return RenderedImage.objects.get(analysis=analysis, kind=kind)
    return image
