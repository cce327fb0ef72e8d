"""Reports and the case workflow: intake, the lifecycle, escalation, the KPIs.

`intake` reads and places a report, `workflow` moves it (`model.TRANSITIONS`), `sweep`
escalates overdue cases, `queries` finds and shows them per role, `stats` computes the
figures. Every change goes through `records` (optimistic update, history, outbox event).
"""

from geo_service.cases.intake import (
    IdTaken,
    NewReport,
    prepare_report,
    read_report,
    store_report,
    stored_report,
    submit_report,
)
from geo_service.cases.model import TRANSITIONS, allowed_actions
from geo_service.cases.queries import (
    ReportFilter,
    as_feature,
    find_reports,
    get_report,
    read_filter,
    report_view,
    step_view,
)
from geo_service.cases.stats import CASELOAD_LEVELS, area_stats, open_caseload
from geo_service.cases.sweep import escalate_overdue
from geo_service.cases.workflow import act

__all__ = ["CASELOAD_LEVELS", "TRANSITIONS", "IdTaken", "NewReport", "ReportFilter", "act",
           "allowed_actions", "area_stats", "as_feature", "escalate_overdue", "find_reports",
           "get_report", "open_caseload", "prepare_report", "read_filter", "read_report",
           "report_view", "step_view", "store_report", "stored_report", "submit_report"]
