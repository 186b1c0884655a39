"""Reporting: metric tables (CSV, JSON, text) and the self-contained HTML report.

Modules: ``tables`` (CSV/JSON/text tables of ``livseg evaluate``), ``evaluation`` (reading an
evaluation folder back), ``run_folder`` (a training run's log and configs), ``case_inputs``
(finding each case's CT, reference and predictions), ``views`` (axial/coronal/sagittal slices
through the liver), ``figures`` (overlays, box plots, learning curves as PNG), ``html_page``
(HTML blocks), ``provenance`` (versions, commands), ``report`` (the page: ``build_report``,
``write_report``), ``browser`` (checking a page in headless Chromium; needs selenium).
"""

from __future__ import annotations
