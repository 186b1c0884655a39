"""The report in a real headless Chromium: no console errors, every image decoded, a screenshot.

Skips when Chromium / chromedriver (Debian: ``apt-get install chromium chromium-driver``) or the
selenium package is not installed.
"""

from __future__ import annotations

import pytest
from PIL import Image

from livseg.reporting.browser import check_in_chromium, find_chromium

pytest.importorskip("selenium", reason="selenium not installed (pip install -e '.[dev]')")
pytestmark = pytest.mark.skipif(
    find_chromium() is None,
    reason="Chromium and chromedriver not found on PATH (apt-get install chromium chromium-driver)")

# A page with one good image, one that cannot decode and a console error: the check must see both.
BROKEN_PAGE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title>
<link rel="icon" href="data:,"></head><body>
<img alt="fine" src="data:image/png;base64,{png}"><img alt="broken" src="data:image/png;base64,AAAA">
<script>console.error("something failed");</script></body></html>"""


def test_report_loads_without_console_errors_and_all_images(full_report, phantom_evaluation, tmp_path):
    shot = tmp_path / "shot.png"
    seen = check_in_chromium(full_report, screenshot=shot, width=1200, height=800)
    assert seen.errors == [], seen.console
    assert len(seen.images) == 1 + 2 * len(phantom_evaluation.case_ids)
    assert seen.broken_images == []
    assert all(img["width"] > 200 and img["height"] > 100 for img in seen.images)
    assert seen.title == "livseg report"
    assert seen.page_height > 2000
    with Image.open(shot) as image:
        assert image.size == (1200, 800)
        # the dark page header fills the top left corner of the window
        assert max(image.convert("RGB").getpixel((5, 5))) < 60


def test_the_check_sees_console_errors_and_broken_images(tmp_path):
    import base64
    import io

    buffer = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(buffer, format="PNG")
    page = tmp_path / "broken.html"
    page.write_text(BROKEN_PAGE.format(png=base64.b64encode(buffer.getvalue()).decode()), encoding="utf-8")
    seen = check_in_chromium(page)
    assert any("something failed" in message for message in seen.errors)
    assert seen.broken_images == ["broken"]
    assert [img["width"] for img in seen.images] == [4, 0]
