"""``review``: close the loop between the served model and the people who check it.

``export`` picks the most informative logged predictions for review,
``ingest`` joins reviewed labels back to their predictions by
``prediction_id`` into an append-only feedback store, and the store feeds
``drift`` (realized performance) and ``train --feedback``. Library functions
never print or exit.
"""

from __future__ import annotations

from hsctl.review.export import FORMATS, ExportResult, export_queue
from hsctl.review.ingest import IngestResult, ingest_labels
from hsctl.review.store import read_feedback

__all__ = ["FORMATS", "ExportResult", "IngestResult", "export_queue", "ingest_labels", "read_feedback"]
