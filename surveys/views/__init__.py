"""Pages of the survey app, one module per noun; `surveys.urls` maps one URL to one view."""
