"""Segment-compatible event collector: validate against the tracking plan, enrich, enqueue durably."""
