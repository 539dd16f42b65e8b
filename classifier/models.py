"""Model versions, analyses, call detections, predictions and label decisions (filled in by issue 5 on)."""
