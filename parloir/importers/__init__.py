"""Importing other chatbot databases into parloir.

``Store.import_source(location)`` detects the source's layout from its tables and imports it
in chunks; see docs/import-export.md for each layout's mapping.
"""

from parloir.importers.framework import LAYOUTS, ImportOptions, detect_layout, run_import
from parloir.importers.report import ImportReport

__all__ = ["LAYOUTS", "ImportOptions", "ImportReport", "detect_layout", "run_import"]
