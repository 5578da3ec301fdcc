"""The outcomes and revenue report (PRODUCT.md §8): data, tables, HTML page, web route.

    build_report(store_or_session, rules, *, now, since=None) -> Report   (Report.to_json(): §8 shape)
    render_tables(report, console)                                       (rich tables for `report`)
    render_html(report) -> str                                           (self-contained, offline)
    report_routes(settings, store, clock) -> [Route("/report")]          (for worker.web.app)
"""

from worker.report.build import Report, build_report

__all__ = ["Report", "build_report"]
