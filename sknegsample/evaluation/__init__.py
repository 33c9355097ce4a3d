"""Judging the results: scorers compared with intervals, TREC run files, the audit of negatives.

Owns the paired comparison of two fitted scorers (or a scorer and its own
retrieval) and the export of their ranked lists as TREC run files and qrels
(``_scorers``, with the file writers in ``_runfiles``), and the audit of
mined negatives (``_audit``, whose :class:`AuditReport` lives in
``_report``). Beside ``text``, above ``rerank``: may import ``rerank``,
``plotting``, ``mining``, ``neighbors``, ``metrics`` and ``utils``; the audit
itself needs only ``mining``, ``neighbors`` and ``utils``.
"""

from ._audit import audit
from ._report import AuditReport
from ._runfiles import write_trec_qrels, write_trec_run
from ._scorers import compare_scorers, export_run

__all__ = [
    "AuditReport",
    "audit",
    "compare_scorers",
    "export_run",
    "write_trec_qrels",
    "write_trec_run",
]
