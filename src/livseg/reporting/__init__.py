"""Reporting: metric tables (CSV, JSON, text) and, in later modules, the HTML report."""

from __future__ import annotations
