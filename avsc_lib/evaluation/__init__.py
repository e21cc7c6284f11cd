"""Scoring trained networks: metrics, class-wise tables, submission files and figures."""
