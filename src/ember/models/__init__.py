"""Model providers behind one normalized shape (see ``base.py``).

``catalog.build_provider(spec)`` makes the adapter for a ModelSpec; ``router.Router`` picks the
model per task, retries, falls back and counts cost. Nothing is imported here, so that
importing ``ember.models`` stays free (httpx loads only when a request is made).
"""
