"""Small HTML pieces for text panels.

The app writes its text as escaped HTML (``solara.HTML``) rather than ``solara.Markdown``: Markdown
loads mermaid and KaTeX from the CDN (not in the offline asset cache) and would typeset the text
between two dollar amounts ("$2.63 … $5.94") as mathematics.
"""

from __future__ import annotations

from html import escape
from typing import Iterable, Sequence

import solara


def text(s: str) -> str:
    return escape(str(s))


def para(s: str, *, small: bool = False, muted: bool = False) -> str:
    style = []
    if small:
        style.append("font-size:12px")
    if muted:
        style.append("color:#666")
    attr = f' style="{";".join(style)}"' if style else ""
    return f"<p{attr}>{escape(str(s))}</p>"


def bullets(items: Iterable[str]) -> str:
    return "<ul>" + "".join(f"<li>{escape(str(i))}</li>" for i in items) + "</ul>"


def table(header: Sequence[str], rows: Iterable[Sequence[object]], *,
          right: Sequence[int] = ()) -> str:
    def cell(tag: str, k: int, v: object) -> str:
        align = ' style="text-align:right"' if k in right else ""
        return f"<{tag}{align}>{escape(str(v))}</{tag}>"

    head = "".join(cell("th", k, h) for k, h in enumerate(header))
    body = "".join("<tr>" + "".join(cell("td", k, v) for k, v in enumerate(r)) + "</tr>"
                   for r in rows)
    return (f'<table class="h100sim-table" style="border-collapse:collapse;font-size:13px">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
            "<style>.h100sim-table td,.h100sim-table th{padding:2px 10px;"
            "border-bottom:1px solid #ddd;text-align:left}</style>")


def HTML(content: str, style: str | None = None):
    """A div with ``content`` (already escaped by the helpers above)."""
    return solara.HTML(tag="div", unsafe_innerHTML=content, style=style)
