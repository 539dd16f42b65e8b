"""The survey app's part of the JSON API (issue 9): projects, sites, visits, sha256 lookup and upload.

`batsite.api` joins this router with the classifier's into the versioned API under /api/v1/. The pieces
both apps share (token auth, the error shape, id and paging parameters) live here, below the classifier.
"""
