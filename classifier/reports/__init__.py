"""Reports: what a consultancy hands to its client and to the national database (issue 8).

Place in the flow: step 6 of ARCHITECTURE.md, after review. Everything here reads final labels
(`classifier.final_labels`) and never writes analysis results.

    results         per recording: the shown prediction, the final label, and passes per species (chunked)
    recordings_csv  one row per recording x species, streamed so that 100,000 rows never sit in memory
    activity        the nightly summary per site x night x species (pandas), with protocol columns
    protocol        Dutch Vleermuisprotocol checks per visit and evidence hints; values in protocol_rules.json
    sun             sunset and sunrise at a site (astral)
    plots           matplotlib PNGs of the summary
    filters         the report filters (date range, minimum confidence, automatic labels too)
    sensitive       rounded coordinates for sensitive species in exports for non-managers
"""
