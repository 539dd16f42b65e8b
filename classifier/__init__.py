"""Analysis, review, retraining and reports: the bridge from Django to the ml package."""
