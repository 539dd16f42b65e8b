"""Survey projects, sites, visits (nights) and recordings: upload and ingest of metadata."""
