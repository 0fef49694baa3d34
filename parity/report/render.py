"""Render report blocks to markdown (figures as files under plots/) and to one self-contained HTML
file (figures embedded as base64 PNG; the CSS and the small script inline; no external resources).

The HTML page, top to bottom:
- a banner: the number of cases per verdict, each a filter button (``data-filter``), a text filter
  over case names, and the legend (every status: its colour, its name as text, its meaning; the
  palette is Okabe-Ito-derived and every coloured cell also says its status in words);
- the contents;
- the summary, sortable by any column (click its header), every row linking to its case;
- one ``<details>`` per case (``id`` = its anchor, ``data-verdict``): open when it did not pass
  cleanly (failing and excused cases), closed when it passed; inside, the heavy tables in closed
  ``<details>`` of their own, shown on demand. Following a link opens the case it lands on.
It reads at phone width: wide tables scroll inside their own box.
"""
from __future__ import annotations

import base64
import html
import io
import re
from pathlib import Path

import pandas as pd

from parity import verdicts
from parity.report.document import Banner, Case, Code, Details, Figure, Heading, Para, Table

_STATUS_RE = re.compile(r"^(" + "|".join(re.escape(v.name) for v in verdicts.ORDER) + r")\b", re.I)


def _css() -> str:
    rules = [f".v-{v.name}{{background:{v.colour};color:{v.ink}}}" for v in verdicts.ORDER]
    return """*{box-sizing:border-box}body{font-family:system-ui,sans-serif;max-width:1150px;margin:0 auto;padding:0 .8em 3em;
color:#222;line-height:1.4}h1{margin:.3em 0}
header.banner{border-bottom:2px solid #444;padding:.3em 0 .5em}
.counts{display:flex;flex-wrap:wrap;gap:.35em;margin:.3em 0}
.counts button{border:1px solid #555;border-radius:4px;padding:.25em .6em;font-size:14px;cursor:pointer}
.counts button[aria-pressed=true]{outline:3px solid #000;outline-offset:1px;font-weight:bold}
.counts button.all{background:#fff;color:#222}
#filter{font-size:14px;padding:.25em .4em;width:min(22em,100%)}
.legend{font-size:12px}.legend summary{cursor:pointer}.legend table td{vertical-align:top}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:12px;margin:.4em 0}td,th{border:1px solid #bbb;padding:2px 6px;text-align:left}
th{background:#eee}table.sortable th{cursor:pointer;user-select:none}table.sortable th::after{content:" \\2195";color:#888}
pre{background:#f6f6f6;padding:.5em;font-size:11px;max-height:16em;overflow:auto}
img{max-width:100%;height:auto}figure{display:inline-block;vertical-align:top;margin:.3em .6em .3em 0;max-width:100%}
figcaption{font-size:13px;max-width:420px}code{background:#f0f0f0}
details.case{border:1px solid #bbb;border-left-width:8px;border-radius:4px;margin:.5em 0;padding:.2em .6em}
details.case>summary{cursor:pointer;font-weight:bold;font-size:15px;padding:.2em 0}
details.more>summary{cursor:pointer;color:#333}
.badge{display:inline-block;border-radius:3px;padding:0 .4em;font-size:12px;font-weight:bold;border:1px solid #0003}
.hidden{display:none}
""" + "".join(rules) + "".join(f"details.case.v-{v.name}{{border-left-color:{v.ink};background:#fff;color:#222}}"
                               for v in verdicts.ORDER)


_SCRIPT = """(function(){
var active='all';
function visible(v,name){var q=document.getElementById('filter').value.trim().toLowerCase();
 return (active==='all'||v===active)&&(!q||name.toLowerCase().indexOf(q)>=0);}
function apply(){document.querySelectorAll('[data-verdict]').forEach(function(el){
 el.classList.toggle('hidden',!visible(el.dataset.verdict,el.dataset.name||''));});
 document.querySelectorAll('.counts button').forEach(function(b){b.setAttribute('aria-pressed',b.dataset.filter===active);});}
document.querySelectorAll('.counts button').forEach(function(b){b.addEventListener('click',function(){
 active=(active===b.dataset.filter&&b.dataset.filter!=='all')?'all':b.dataset.filter;apply();});});
document.getElementById('filter').addEventListener('input',apply);
function land(){var id=decodeURIComponent(location.hash.slice(1));if(!id)return;var el=document.getElementById(id);
 if(el&&el.tagName==='DETAILS'){el.classList.remove('hidden');el.open=true;el.scrollIntoView();}}
window.addEventListener('hashchange',land);land();
document.querySelectorAll('table.sortable').forEach(function(t){t.querySelectorAll('th').forEach(function(th,i){
 th.addEventListener('click',function(){var body=t.tBodies[0],rows=Array.from(body.rows),dir=th.dataset.dir==='1'?-1:1;
  t.querySelectorAll('th').forEach(function(h){delete h.dataset.dir;});th.dataset.dir=dir===1?'1':'-1';
  function key(r){var c=r.cells[i];return c.dataset.sort!==undefined?c.dataset.sort:c.textContent;}
  rows.sort(function(a,b){var x=key(a),y=key(b),nx=parseFloat(x),ny=parseFloat(y);
   if(!isNaN(nx)&&!isNaN(ny))return dir*(nx-ny);return dir*x.localeCompare(y);});
  rows.forEach(function(r){body.appendChild(r);});});});});
})();"""


def _md_cell(text) -> str:
    return str(text).replace("|", "\\|")


def _md_table(df: pd.DataFrame, anchors=None) -> list[str]:
    if df is None or not len(df):
        return []
    cols = [str(c) for c in df.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for i, row in enumerate(df.itertuples(index=False)):
        cells = [_md_cell(v) for v in row]
        if anchors:
            cells[0] = f"[{cells[0]}](#{anchors[i]})"
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def _md_blocks(blocks, plot_dir: Path, lines: list[str]) -> None:
    for b in blocks:
        if isinstance(b, Heading):
            lines += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Banner):
            total = sum(b.counts.values())
            counts = " · ".join(f"{n} {verdicts.label(v)}" for v, n in b.counts.items())
            lines += [f"**{total} case runs: {counts}**", "",
                      "| status | meaning |", "|---|---|",
                      *(f"| {verdicts.label(v.name)} | {_md_cell(v.meaning)} |" for v in verdicts.ORDER), ""]
        elif isinstance(b, Para):
            lines += [b.text, ""]
        elif isinstance(b, Table):
            lines += _md_table(b.df, b.anchors)
        elif isinstance(b, Code):
            lines += ["```json", b.text, "```", ""]
        elif isinstance(b, Figure):
            (plot_dir / b.name).write_bytes(b.png)
            lines += [f"![{b.caption}]({plot_dir.name}/{b.name})", ""]
        elif isinstance(b, Case):
            lines += [f'<a id="{b.anchor}"></a>', "", f"### {b.title}", ""]
            _md_blocks(b.blocks, plot_dir, lines)
        elif isinstance(b, Details):
            lines += [f"**{b.summary}**", ""]
            _md_blocks(b.blocks, plot_dir, lines)


def to_markdown(blocks, path: Path, plot_dir: Path) -> None:
    plot_dir.mkdir(parents=True, exist_ok=True)
    lines: list[str] = []
    _md_blocks(blocks, plot_dir, lines)
    path.write_text("\n".join(lines))


def _inline(text: str) -> str:
    text = html.escape(text)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", text)


def _status_class(text: str) -> str:
    m = _STATUS_RE.match(text)
    return f' class="v-{m.group(1).lower()}"' if m else ""


def _html_table(b: Table) -> str:
    df = b.df
    if df is None or not len(df):
        return ""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    verdict_col = list(df.columns).index("verdict") if "verdict" in df.columns else None
    for i, row in enumerate(df.itertuples(index=False)):
        cells = []
        for j, v in enumerate(row):
            s = str(v)
            inner = html.escape(s)
            if j == 0 and b.anchors:
                inner = f"<a href='#{b.anchors[i]}'>{inner}</a>"
            cells.append(f"<td{_status_class(s)}>{inner}</td>")
        attrs = ""
        if b.anchors and verdict_col is not None:
            verdict = str(row[verdict_col]).lower()
            attrs = f" data-verdict='{html.escape(verdict)}' data-name='{html.escape(str(row[0]))}'"
        body.append(f"<tr{attrs}>" + "".join(cells) + "</tr>")
    cls = " class='sortable'" if b.sortable else ""
    table = f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return f"<div class='scroll'>{table}</div>"


def _banner(b: Banner) -> str:
    total = sum(b.counts.values())
    buttons = [f"<button class='all' data-filter='all' data-count='{total}' aria-pressed='true'>all {total}</button>"]
    for v, n in b.counts.items():
        buttons.append(f"<button class='v-{html.escape(v)}' data-filter='{html.escape(v)}' data-count='{n}' "
                       f"aria-pressed='false'>{html.escape(verdicts.label(v))} {n}</button>")
    legend = "".join(f"<tr><td class='v-{v.name}'>{html.escape(verdicts.label(v.name))}</td>"
                     f"<td>{'passes' if v.passed else 'does not pass'}</td><td>{html.escape(v.meaning)}</td></tr>"
                     for v in verdicts.ORDER)
    return (f"<div class='counts' role='group' aria-label='cases per verdict (click to filter)'>{''.join(buttons)}"
            f"<input id='filter' type='search' placeholder='filter cases by name' aria-label='filter cases by name'>"
            f"</div><details class='legend'><summary>Legend: every status, its colour and meaning</summary>"
            f"<div class='scroll'><table><tbody>{legend}</tbody></table></div></details>")


def _figure(b: Figure) -> str:
    from PIL import Image

    width, height = Image.open(io.BytesIO(b.png)).size
    data = base64.b64encode(b.png).decode("ascii")
    return (f"<figure><img alt='{html.escape(b.caption)}' width='{width}' height='{height}' "
            f"src='data:image/png;base64,{data}'><figcaption>{html.escape(b.caption)}</figcaption></figure>")


def _html_blocks(blocks, parts: list[str], toc) -> None:
    for b in blocks:
        if isinstance(b, Heading):
            parts.append(f"<h{b.level} id='{b.anchor}'>{html.escape(b.text)}</h{b.level}>")
        elif isinstance(b, Banner):
            parts.append(_banner(b))
            parts.append("</header><nav><ul>" + "".join(f"<li><a href='#{h.anchor}'>{html.escape(h.text)}</a></li>"
                                                        for h in toc) + "</ul></nav>")
        elif isinstance(b, Para):
            parts.append(f"<p>{_inline(b.text)}</p>")
        elif isinstance(b, Table):
            parts.append(_html_table(b))
        elif isinstance(b, Code):
            parts.append(f"<pre>{html.escape(b.text)}</pre>")
        elif isinstance(b, Figure):
            parts.append(_figure(b))
        elif isinstance(b, Case):
            opened = " open" if b.verdict != "pass" else ""
            v = html.escape(b.verdict)
            parts.append(f"<details class='case v-{v}' id='{b.anchor}' data-verdict='{v}' "
                         f"data-name='{html.escape(b.name)}'{opened}><summary><span class='badge v-{v}'>"
                         f"{html.escape(verdicts.label(b.verdict))}</span> {html.escape(b.name)} ({b.dtype})</summary>")
            _html_blocks(b.blocks, parts, toc)
            parts.append("</details>")
        elif isinstance(b, Details):
            parts.append(f"<details class='more'{' open' if b.open else ''}><summary>{_inline(b.summary)}</summary>")
            _html_blocks(b.blocks, parts, toc)
            parts.append("</details>")


def to_html(blocks, path: Path) -> None:
    title = next((b.text for b in blocks if isinstance(b, Heading)), "report")
    toc = [b for b in blocks if isinstance(b, Heading) and b.level == 2]
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'>"
             f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
             f"<style>{_css()}</style></head><body><header class='banner'>"]
    if not any(isinstance(b, Banner) for b in blocks):
        parts.append("</header>")
    _html_blocks(blocks, parts, toc)
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    path.write_text("\n".join(parts))
