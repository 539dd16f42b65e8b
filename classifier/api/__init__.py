"""The classifier's part of the JSON API (issue 9): a recording's status, prediction, calls and final label,
a site's CSV reports, and the quick analysis of one file (`POST /api/v1/analyse`).

Joined with the survey router in `batsite.api`; auth, the error shape and id parameters come from
`surveys.api` (the lower layer).
"""
