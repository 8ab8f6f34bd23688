"""The evaluation's outputs: evaluation.json, a printed table, report.html and chart.svg."""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from basketry.training.evaluation.chart import Bars, bar_chart_svg

JSON_NAME = "evaluation.json"
HTML_NAME = "report.html"
SVG_NAME = "chart.svg"


def table_columns(ks: Sequence[int]) -> list[tuple[str, str]]:
    """(metric key, column header) for the main table, in print order."""
    first = ks[0]
    columns = [(f"recall@{k}", f"R@{k}") for k in ks]
    columns += [(f"ndcg@{k}", f"N@{k}") for k in ks]
    columns += [(f"phr@{k}", f"PHR@{k}") for k in ks]
    columns += [
        (f"repeat_recall@{first}", f"rep R@{first}"),
        (f"explore_recall@{first}", f"exp R@{first}"),
        (f"coverage@{first}", f"cov@{first}"),
        (f"bought_share@{first}", f"bought@{first}"),
    ]
    return columns


def text_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A fixed-width table: the "method" field first, then one column per (key, header)."""
    width = max(len("method"), *(len(str(row["method"])) for row in rows))
    widths = [max(9, len(title)) + 2 for _, title in columns]
    header = "method".ljust(width) + "".join(
        title.rjust(w) for (_, title), w in zip(columns, widths, strict=True)
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        values = "".join(
            _cell(row.get(key)).rjust(w) for (key, _), w in zip(columns, widths, strict=True)
        )
        lines.append(str(row["method"]).ljust(width) + values)
    return "\n".join(lines)


def summary_text(result: dict[str, Any]) -> str:
    """The printed summary: the ranking table, then the bundle and look-alike tables."""
    ks = result["parameters"]["ks"]
    rows = [{"method": m["method"], **m["metrics"]} for m in result["methods"]]
    parts = [result["protocol"]["description"], "", text_table(rows, table_columns(ks))]
    for name in ("bundles", "lookalike"):
        section = result.get(name)
        if section is None:
            continue
        parts += ["", f"{name}:"]
        if "skipped" in section:
            parts.append(f"  skipped: {section['skipped']}")
        else:
            parts.append(text_table(section["table"], _metric_columns(section["table"])))
    parts += ["", f"wall time {result['wall_seconds']:.1f} s"]
    return "\n".join(parts)


def chart_svg(result: dict[str, Any]) -> str:
    """Recall@k and NDCG@k (first k) per method; Basketry's strategies in bold."""
    k = result["parameters"]["ks"][0]
    groups = [
        Bars(
            label=m["method"],
            values=(m["metrics"][f"recall@{k}"], m["metrics"][f"ndcg@{k}"]),
            emphasised=m["kind"] == "basketry",
        )
        for m in result["methods"]
    ]
    title = f"{result['protocol']['facts']['protocol']}: Recall@{k} and NDCG@{k} per method"
    return bar_chart_svg(title, (f"Recall@{k}", f"NDCG@{k}"), groups)


def html_report(result: dict[str, Any], svg: str) -> str:
    ks = result["parameters"]["ks"]
    rows = [{"method": m["method"], **m["metrics"]} for m in result["methods"]]
    sections = [
        f"<h1>Basketry evaluation: {escape(result['protocol']['facts']['protocol'])}</h1>",
        f"<p>{escape(result['protocol']['description'])}</p>",
        svg,
        "<h2>Next-basket metrics</h2>",
        _html_table(rows, table_columns(ks)),
    ]
    for name, title in (("bundles", "Bundles"), ("lookalike", "Look-alike")):
        section = result.get(name)
        if section is None:
            continue
        sections.append(f"<h2>{title}</h2>")
        if "skipped" in section:
            sections.append(f"<p>skipped: {escape(section['skipped'])}</p>")
        else:
            sections.append(_html_table(section["table"], _metric_columns(section["table"])))
    details = {
        "protocol facts": result["protocol"]["facts"],
        "parameters": result["parameters"],
        "data": result["data"],
    }
    for title, values in details.items():
        sections.append(
            f"<h2>{escape(title)}</h2><pre>{escape(json.dumps(values, indent=2))}</pre>"
        )
    style = (
        "body{font-family:sans-serif;margin:2em;max-width:80em}"
        "table{border-collapse:collapse}td,th{padding:2px 8px;border-bottom:1px solid #ddd}"
        "td{text-align:right}td:first-child{text-align:left}"
    )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Basketry evaluation</title><style>{style}</style></head><body>\n"
        + "\n".join(sections)
        + "\n</body></html>\n"
    )


def write_outputs(result: dict[str, Any], out_dir: Path) -> dict[str, Path]:
    """Write the JSON, HTML and SVG files into `out_dir` (created); returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    svg = chart_svg(result)
    paths = {"json": out_dir / JSON_NAME, "html": out_dir / HTML_NAME, "svg": out_dir / SVG_NAME}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    paths["svg"].write_text(svg + "\n", encoding="utf-8")
    paths["html"].write_text(html_report(result, svg), encoding="utf-8")
    return paths


def _metric_columns(rows: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    if not rows:
        return []
    return [(key, key) for key, value in rows[0].items() if key != "method" and _is_number(value)]


def _html_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    head = "".join(f"<th>{escape(title)}</th>" for _, title in columns)
    body = "".join(
        f"<tr><td>{escape(str(row['method']))}</td>"
        + "".join(f"<td>{_cell(row.get(key))}</td>" for key, _ in columns)
        + "</tr>"
        for row in rows
    )
    return f"<table><tr><th>method</th>{head}</tr>{body}</table>"


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}"
    return "" if value is None else str(value)
