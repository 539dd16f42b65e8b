"""URLs of the classifier app: analysis results, their pictures and audio, re-analysis. One view per URL."""

from django.urls import path

from classifier.views import media, projects, recordings, sites, visits

urlpatterns = [
    path("visits/<int:visit_id>/results/", visits.visit_results, name="visit_results"),
    path("visits/<int:visit_id>/reanalyse/", visits.visit_reanalyse, name="visit_reanalyse"),
    path("recordings/<int:recording_id>/analysis/", recordings.recording_analysis, name="recording_analysis"),
    path("recordings/<int:recording_id>/audio.wav", media.recording_audio, name="recording_audio"),
    path(
        "recordings/<int:recording_id>/audio-slow.wav",
        media.recording_audio_slow,
        name="recording_audio_slow",
    ),
    path("analyses/<int:analysis_id>/retry/", recordings.analysis_retry, name="analysis_retry"),
    path("analyses/<int:analysis_id>/occlusion/", recordings.analysis_occlusion, name="analysis_occlusion"),
    path(
        "analyses/<int:analysis_id>/spectrogram.png",
        media.analysis_image,
        {"kind": "spectrogram"},
        name="analysis_spectrogram_png",
    ),
    path(
        "analyses/<int:analysis_id>/occlusion.png",
        media.analysis_image,
        {"kind": "occlusion"},
        name="analysis_occlusion_png",
    ),
    path("sites/<int:site_id>/species/", sites.site_species, name="site_species"),
    path("sites/<int:site_id>/reanalyse/", sites.site_reanalyse, name="site_reanalyse"),
    path("projects/<int:project_id>/map/", projects.project_map, name="project_map"),
]
