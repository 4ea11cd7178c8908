"""The report: its model (findings, check results, status, exit codes), the ranking, and one module per output
format behind one router (`render(report, fmt)`). Imports neither the run engine nor torch."""
from .model import SCHEMA_VERSION, STATUSES, UNFINISHED, CheckResult, ExitCode, Finding, Report, json_safe
from .ranking import SEVERITIES, SEVERITY_ORDER, rank_findings

__all__ = ["SCHEMA_VERSION", "STATUSES", "UNFINISHED", "SEVERITIES", "SEVERITY_ORDER", "CheckResult", "ExitCode",
           "Finding", "Report", "json_safe", "rank_findings"]
