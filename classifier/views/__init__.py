"""Views of the classifier app: analysis results as pages and the HTMX fragments other pages include.

visits     the night's results (progress, filters, table) and re-analysis of a visit
recordings the analysis panel of one recording, its occlusion map, retry of a failed analysis
media      spectrogram / occlusion PNGs, the original audio (ranged) and the 1/10-speed copy
sites      species summary of a site and re-analysis of a site
projects   the map of a project's sites
"""
