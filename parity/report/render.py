"""Render report blocks to markdown (figures as files under plots/) and to one self-contained HTML
file (figures embedded as base64 PNG, no external resources)."""
from __future__ import annotations

import base64
import html
import re
from pathlib import Path

import pandas as pd

from parity.report.document import Code, Figure, Heading, Para, Table

CSS = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;font-size:12px;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 6px;text-align:left}
th{background:#f3f3f3}pre{background:#f7f7f7;padding:.5em;font-size:11px;max-height:14em;overflow:auto}
img{max-width:100%}td.fail{background:#fdd}td.conv{background:#eef}td.dev{background:#ffe}code{background:#f3f3f3}"""


def _md_table(df: pd.DataFrame) -> list[str]:
    if df is None or not len(df):
        return []
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in df.itertuples(index=False):
        lines.append("| " + " | ".join(str(v).replace("|", "\\|") for v in row) + " |")
    return lines + [""]


def to_markdown(blocks, path: Path, plot_dir: Path) -> None:
    plot_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            lines += _md_table(b.df)
        elif isinstance(b, Code):
            lines += ["```json", b.text, "```", ""]
        elif isinstance(b, Figure):
            (plot_dir / b.name).write_bytes(b.png)
            lines += [f"![{b.caption}]({plot_dir.name}/{b.name})", ""]
    path.write_text("\n".join(lines))


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _html_table(df: pd.DataFrame) -> str:
    if df is None or not len(df):
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for row in df.itertuples(index=False):
        cells = []
        for v in row:
            s = str(v)
            cls = ' class="fail"' if s.startswith("FAIL") else ' class="conv"' if s.startswith(("convention", "noise")) else \
                ' class="dev"' if s.startswith("deviation") else ""
            cells.append(f"<td{cls}>{html.escape(s)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def to_html(blocks, path: Path) -> None:
    title = next((b.text for b in blocks if isinstance(b, Heading)), "report")
    toc = [b for b in blocks if isinstance(b, Heading) and b.level == 2]
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{CSS}</style></head><body>"]
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level} id='{b.anchor}'>{html.escape(b.text)}</h{b.level}>")
            if b.level == 1 and toc:
                parts.append("<ul>" + "".join(f"<li><a href='#{h.anchor}'>{html.escape(h.text)}</a></li>" for h in toc)
                             + "</ul>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            parts.append(_html_table(b.df))
        elif isinstance(b, Code):
            parts.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Figure):
            data = base64.b64encode(b.png).decode("ascii")
            parts.append(f"<figure><img alt='{html.escape(b.caption)}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{html.escape(b.caption)}</figcaption></figure>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))
