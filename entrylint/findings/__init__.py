"""Findings: the one record every rule and the front end report."""

from entrylint.findings.model import Finding, PathStep, Severity, TraceStep

__all__ = ["Finding", "PathStep", "Severity", "TraceStep"]
