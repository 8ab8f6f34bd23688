"""The table printed to stdout when a training run ends."""

from __future__ import annotations

from basketry.training.cleaning import DROP_REASONS
from basketry.training.pipeline import TrainingReport


def summary_table(report: TrainingReport) -> str:
    counts, cleaned = report.counts, report.clean
    rows: list[tuple[str, str]] = [("rows read", f"{cleaned.rows_read:,}")]
    rows += [
        (f"  dropped: {text}", f"{cleaned.dropped[reason]:,}")
        for reason, text in DROP_REASONS.items()
    ]
    rows += [
        ("rows used", f"{cleaned.lines.height:,}"),
        ("customers", f"{counts['customers']:,}"),
        ("items", f"{counts['items']:,}"),
        ("orders", f"{counts['orders_total']:,}"),
        ("  mined for partners", f"{counts['orders']:,}"),
        ("  too big to mine", f"{counts['orders_too_big']:,}"),
        ("history entries", f"{counts['history_entries']:,}"),
        ("partner entries (rules)", f"{counts['rules']:,}"),
        ("items with partners", f"{counts['items_with_partners']:,}"),
        ("categories", f"{counts['categories']:,}"),
    ]
    if counts["catalog_items"]:
        rows += [
            ("catalog items", f"{counts['catalog_items']:,}"),
            ("  never ordered (not in snapshot)", f"{counts['catalog_items_not_ordered']:,}"),
            ("ordered items missing from catalog", f"{counts['items_missing_from_catalog']:,}"),
        ]
    rows += [(f"{stage} time", f"{seconds:.2f} s") for stage, seconds in report.seconds.items()]
    rows += [
        ("total time", f"{report.total_seconds:.2f} s"),
        ("snapshot", str(report.version_dir)),
        ("snapshot size", f"{report.snapshot_bytes / 1e6:.1f} MB"),
    ]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label.ljust(width)}  {value}" for label, value in rows)
