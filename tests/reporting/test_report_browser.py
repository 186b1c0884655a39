"""The report in a real headless Chromium: no console errors, every image decoded, a screenshot,
and the slice viewer driven as a user would (slider, wheel, keys, clicks, the CRF switch).

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
    assert seen.viewers == {f"viewer-{i + 1}": "ready" for i in range(len(phantom_evaluation.case_ids))}
    # the static figures are still there (folded under each viewer), and the CRF section's
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


# --- the slice viewer ------------------------------------------------------------------------
def _canvas_url(driver, viewer_id: str, plane: str) -> str:
    return driver.execute_script(
        f"return document.querySelector('#{viewer_id} .plane[data-plane={plane}] canvas').toDataURL()")


def _indices(driver, viewer_id: str) -> dict[str, int]:
    return driver.execute_script(f"return Object.assign({{}}, window.livsegViewers['{viewer_id}'].index)")


def _errors(driver) -> list[str]:
    """Console entries at error level, and any Content-Security-Policy complaint at all."""
    return [e["message"] for e in driver.get_log("browser")
            if e.get("level") == "SEVERE" or "Content Security Policy" in e.get("message", "")]


def _page_viewers(report: Path) -> dict[str, dict[str, str]]:
    from html.parser import HTMLParser

    found: dict[str, dict[str, str]] = {}

    class Parser(HTMLParser):
        def handle_starttag(self, tag, attrs):
            values = {k: v or "" for k, v in attrs}
            if tag == "div" and "viewer" in values.get("class", "").split():
                found[values["id"]] = values

    Parser(convert_charrefs=True).feed(report.read_text(encoding="utf-8"))
    return found


def test_the_viewer_scrolls_toggles_and_matches_the_embedded_data(full_report, phantom_evaluation):
    import base64
    import io

    import numpy as np
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    from livseg.reporting.browser import chromium, wait_for_viewers
    from livseg.reporting.viewer import from_mosaic, inflate_base64, unpack_label
    from livseg.reporting.views import display_slice

    embedded = _page_viewers(full_report)
    assert list(embedded) == [f"viewer-{i + 1}" for i in range(len(phantom_evaluation.case_ids))]
    with chromium(width=1280, height=900) as driver:
        driver.get(full_report.resolve().as_uri())
        assert wait_for_viewers(driver) == {name: "ready" for name in embedded}

        # The script's planes are the Python display convention's slices of the embedded arrays.
        for viewer_id, attrs in embedded.items():
            shape = tuple(int(v) for v in attrs["data-shape"].split(","))
            packed = inflate_base64(attrs["data-labels"], shape)
            jpeg = Image.open(io.BytesIO(base64.b64decode(attrs["data-ct"].split(",", 1)[1])))
            ct = from_mosaic(np.asarray(jpeg), shape, tuple(int(v) for v in attrs["data-tile"].split(",")))
            for plane, count in zip(("axial", "coronal", "sagittal"), shape):
                for index in (0, count // 2, count - 1):
                    rows_columns = display_slice(packed, plane, index).shape
                    for position, source in enumerate(attrs["data-sources"].split(",")):
                        shown = driver.execute_script(
                            "return window.livsegViewers[arguments[0]].slice(arguments[1], arguments[2], arguments[3])",
                            viewer_id, plane, index, source)
                        np.testing.assert_array_equal(np.reshape(shown, rows_columns),
                                                      unpack_label(display_slice(packed, plane, index), position))
                    shown_ct = driver.execute_script(
                        "return window.livsegViewers[arguments[0]].slice(arguments[1], arguments[2], 'ct')",
                        viewer_id, plane, index)
                    # Chromium's and Pillow's JPEG decoders may differ by a grey level or two.
                    difference = np.abs(np.reshape(shown_ct, rows_columns).astype(int)
                                        - display_slice(ct, plane, index).astype(int))
                    assert difference.max() <= 3, (viewer_id, plane, index, difference.max())

        viewer = "viewer-2"
        root = driver.find_element(By.ID, viewer)
        driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", root)
        axial = root.find_element(By.CSS_SELECTOR, ".plane[data-plane=axial] canvas")
        slider = root.find_element(By.CSS_SELECTOR, ".plane[data-plane=axial] input[type=range]")
        output = root.find_element(By.CSS_SELECTOR, ".plane[data-plane=axial] output")
        start = _indices(driver, viewer)
        first = _canvas_url(driver, viewer, "axial")
        sagittal_first = _canvas_url(driver, viewer, "sagittal")

        # The slider: two steps to the right.
        slider.send_keys(Keys.RIGHT, Keys.RIGHT)
        assert _indices(driver, viewer)["axial"] == start["axial"] + 2
        assert output.text.startswith(f"{start['axial'] + 3} / ")
        moved = _canvas_url(driver, viewer, "axial")
        assert moved != first
        # ... the other planes' crosshair follows the axial slice
        assert _canvas_url(driver, viewer, "sagittal") != sagittal_first

        # The mouse wheel over the image moves through slices and does not scroll the page.
        scrolled = driver.execute_script("return window.scrollY")
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(axial), 0, -300).perform()
        after_wheel = _indices(driver, viewer)["axial"]
        assert after_wheel < start["axial"] + 2
        assert driver.execute_script("return window.scrollY") == scrolled
        assert _canvas_url(driver, viewer, "axial") not in (moved,)
        assert int(slider.get_attribute("value")) == after_wheel

        # Arrow keys on the focused image.
        axial.send_keys(Keys.ARROW_UP)
        assert _indices(driver, viewer)["axial"] == after_wheel + 1
        axial.send_keys(Keys.END)
        assert _indices(driver, viewer)["axial"] == int(slider.get_attribute("max"))
        driver.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('input'))",
                              slider, start["axial"])
        assert _indices(driver, viewer)["axial"] == start["axial"]
        assert _canvas_url(driver, viewer, "axial") == first  # the same slice draws the same image

        # CRF before/after: the prediction without CRF (dilated by a voxel) draws differently.
        with_crf = _canvas_url(driver, viewer, "axial")
        root.find_element(By.CSS_SELECTOR, "input[type=radio][value=prediction_nocrf]").click()
        without_crf = _canvas_url(driver, viewer, "axial")
        assert without_crf != with_crf
        root.find_element(By.CSS_SELECTOR, "input[type=radio][value=prediction]").click()
        assert _canvas_url(driver, viewer, "axial") == with_crf
        # Hiding the reference outline changes the image too.
        root.find_element(By.CSS_SELECTOR, "input[data-layer=reference]").click()
        assert _canvas_url(driver, viewer, "axial") != with_crf

        # A click on the axial plane moves the coronal and sagittal planes there.
        shape = [int(v) for v in embedded[viewer]["data-shape"].split(",")]  # nz, ny, nx
        width = axial.size["width"]
        ActionChains(driver).move_to_element_with_offset(axial, -width // 4, 0).click().perform()
        after_click = _indices(driver, viewer)
        assert after_click["axial"] == start["axial"]
        assert abs(after_click["sagittal"] - int((width / 2 - width // 4) / width * shape[2])) <= 1  # column x
        assert abs(after_click["coronal"] - shape[1] // 2) <= 1  # row y at the image's middle

        # The page scrolls as a page: the next case's viewer comes into view and works.
        driver.execute_script("window.scrollBy(0, 900)")
        assert driver.execute_script("return window.scrollY") > scrolled
        assert _errors(driver) == []
