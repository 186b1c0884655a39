"""Small HTML building blocks for the report: escaping, images, tables, the page frame.

Everything is inline (CSS in a <style> element, images as base64 PNG data URLs, the slice
viewer's script in one <script> element), so one file shows the same anywhere, offline. The
page's Content-Security-Policy allows images only from data: URLs, no connections, and no
script but the page's own scripts, by their SHA-256 hashes: text that slipped into the page
unescaped could still not run.
"""

from __future__ import annotations

import base64
import hashlib
import html
from typing import Iterable, Sequence

CSS = """
:root { --ink: #1f2328; --muted: #656d76; --line: #d0d7de; --soft: #f6f8fa; --accent: #0b5cad;
        --warn: #9a6700; --warnbg: #fff8c5; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
       sans-serif; color: var(--ink); background: #ffffff; }
header { background: #16181d; color: #f0f0f0; padding: 20px 32px 14px; }
header h1 { margin: 0 0 4px; font-size: 24px; font-weight: 600; }
header p { margin: 2px 0; color: #b8bcc4; font-size: 13px; }
nav { margin-top: 10px; display: flex; flex-wrap: wrap; gap: 6px 16px; font-size: 14px; }
nav a { color: #8cc4ff; text-decoration: none; }
nav a:hover { text-decoration: underline; }
main { max-width: 1120px; margin: 0 auto; padding: 8px 32px 48px; }
section { margin-top: 28px; }
h2 { font-size: 20px; border-bottom: 1px solid var(--line); padding-bottom: 4px; margin: 0 0 12px; }
h3 { font-size: 16px; margin: 18px 0 8px; }
p.note, .note { color: var(--muted); font-size: 13px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0 4px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 16px; min-width: 150px;
        background: var(--soft); }
.card .value { font-size: 22px; font-weight: 600; }
.card .label { font-size: 12px; color: var(--muted); }
table { border-collapse: collapse; font-size: 13px; margin: 4px 0 8px; }
th, td { border: 1px solid var(--line); padding: 4px 8px; }
th { background: var(--soft); font-weight: 600; text-align: center; }
tbody th { white-space: nowrap; text-align: left; }
td.num { white-space: nowrap; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.undefined { color: var(--muted); text-align: center; }
td.flag { background: var(--warnbg); color: var(--warn); }
tr.stat td, tr.stat th { background: #eef3f9; }
tr.stat:first-of-type td, tr.stat:first-of-type th { border-top: 2px solid #8c959f; }
.table-wrap { overflow-x: auto; }
figure { margin: 14px 0 22px; }
figure img { display: block; max-width: 100%; height: auto; border-radius: 4px; }
figcaption { font-size: 13px; color: var(--muted); margin-top: 6px; }
.problem { border-left: 4px solid var(--warn); background: var(--warnbg); padding: 8px 12px; font-size: 14px; }
pre { background: var(--soft); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow-x: auto; font-size: 12.5px; line-height: 1.4; }
code { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
details { margin: 10px 0; }
summary { cursor: pointer; font-weight: 600; font-size: 15px; }
dl.facts { display: grid; grid-template-columns: max-content 1fr; gap: 4px 16px; font-size: 14px; }
dl.facts dt { color: var(--muted); }
dl.facts dd { margin: 0; }
"""


def esc(text: object) -> str:
    """HTML-escaped text (quotes included, safe in attributes)."""
    return html.escape(str(text), quote=True)


def attributes(values: dict[str, object]) -> str:
    """ ``key="value"`` pairs (escaped), keys in the given order; None values left out."""
    return "".join(f' {key}="{esc(value)}"' for key, value in values.items() if value is not None)


def png_data_url(png: bytes) -> str:
    """A ``data:image/png;base64,...`` URL of the PNG bytes."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def image(png: bytes, alt: str, *, width: int | None = None) -> str:
    """An <img> element holding the PNG inline."""
    return f"<img{attributes({'src': png_data_url(png), 'alt': alt, 'width': width})}>"


def figure(png: bytes, alt: str, caption: str = "", *, element_id: str | None = None) -> str:
    """A <figure> with the image and an (already escaped/marked-up) caption."""
    caption_html = f"<figcaption>{caption}</figcaption>" if caption else ""
    return f"<figure{attributes({'id': element_id})}>{image(png, alt)}{caption_html}</figure>"


def details(summary: str, body_html: str, *, open_: bool = False) -> str:
    """A <details> block (folds without JavaScript) with an escaped summary line."""
    return (f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary>{body_html}</details>")


def table(header: Sequence[str], rows: Iterable[str], *, caption: str = "", css_class: str | None = None) -> str:
    """A <table> with an escaped header row and already-built <tr> rows."""
    head = "".join(f"<th>{esc(title)}</th>" for title in header)
    caption_html = f"<caption class=\"note\">{esc(caption)}</caption>" if caption else ""
    return (f"<div class=\"table-wrap\"><table{attributes({'class': css_class})}>{caption_html}"
            f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")


def script_hash(script: str) -> str:
    """The CSP source of an inline script: ``'sha256-<base64 of its UTF-8 text's SHA-256>'``."""
    digest = hashlib.sha256(script.encode("utf-8")).digest()
    return f"'sha256-{base64.b64encode(digest).decode('ascii')}'"


def content_security_policy(scripts: Sequence[str] = ()) -> str:
    """The page's policy: nothing from the network; inline styles; only the given inline scripts run."""
    script_src = " ".join(script_hash(s) for s in scripts) if scripts else "'none'"
    return ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; "
            f"script-src {script_src}; base-uri 'none'; form-action 'none'")


def page(title: str, subtitle_lines: Sequence[str], nav: Sequence[tuple[str, str]], sections: Sequence[str],
         *, scripts: Sequence[str] = (), css: str = "") -> str:
    """The whole document: header with navigation, then the sections, then ``scripts`` (inline).

    Args:
        scripts: JavaScript texts, each in its own <script> element at the end of <body>; they
            must not contain ``</script``. The Content-Security-Policy allows exactly these.
        css: more CSS after the page's own.
    """
    for script in scripts:
        if "</script" in script.lower() or "<!--" in script:
            raise ValueError("a script may not contain '</script' or '<!--'")
    links = "".join(f"<a href=\"#{esc(anchor)}\">{esc(text)}</a>" for anchor, text in nav)
    subtitle = "".join(f"<p>{line}</p>" for line in subtitle_lines)
    script_html = "".join(f"<script>{script}</script>\n" for script in scripts)
    return ("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f"<meta http-equiv=\"Content-Security-Policy\" content=\"{esc(content_security_policy(scripts))}\">\n"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
            "<link rel=\"icon\" href=\"data:,\">\n"
            f"<title>{esc(title)}</title>\n<style>{CSS}{css}</style>\n</head>\n<body>\n"
            f"<header><h1>{esc(title)}</h1>{subtitle}<nav>{links}</nav></header>\n"
            f"<main>\n{''.join(sections)}\n</main>\n{script_html}</body>\n</html>\n")
