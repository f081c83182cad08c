"""Human labels on a run's own answers, and the judge-corrected (calibrated) figures they allow."""

from __future__ import annotations

from medsafe.labels.calibrated import JUDGED_KINDS, calibrated_block, calibrated_estimate
from medsafe.labels.ppi import Estimate, classical_mean, labels_for_half_width, ppi_mean
from medsafe.labels.sampling import Draw, draw_sample
from medsafe.labels.sheet import Imported, export_sheet, import_sheet, parse_sheet

__all__ = [
    "JUDGED_KINDS",
    "Draw",
    "Estimate",
    "Imported",
    "calibrated_block",
    "calibrated_estimate",
    "classical_mean",
    "draw_sample",
    "export_sheet",
    "import_sheet",
    "labels_for_half_width",
    "parse_sheet",
    "ppi_mean",
]
