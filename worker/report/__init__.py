"""The outcomes and revenue report (PRODUCT.md §8): data, tables, HTML page.

    build_report(store_or_session, rules, *, now, since=None) -> Report   (Report.to_json(): §8 shape)
    render_tables(report, console)                                       (rich tables for `report`)
    render_html(report) -> str                                           (self-contained, offline)
(The console listener serves the page at /report and the object at /api/report: worker.console.)
"""

from worker.report.build import Report, build_report

__all__ = ["Report", "build_report"]
