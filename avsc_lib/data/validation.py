"""The gate before training: a study's data root is checked as ``avsc check`` checks it.

``avsc run --data ROOT`` stops with the check's report when the root has problems, unless
``allow_invalid_data: true``; the problems it then accepted are recorded below the build folder
(``data-checks/``), and each chapter's provenance box lists them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Callable, Mapping

from avsc_lib.core.atomic import write_text
from avsc_lib.core.errors import AvscError
from avsc_lib.core.params import build_path, feature_workers


def data_check_file(params: Mapping[str, Any]) -> Path:
    """Where the check of ``data_root`` before a run is recorded (read by the provenance box)."""
    digest = hashlib.sha256(str(params["data_root"]).encode()).hexdigest()[:12]
    return build_path(params, "data-checks", f"{Path(params['data_root']).name}-{digest}.json")


def validate_data(params: Mapping[str, Any], log: Callable[[str], None] = print) -> list[str]:
    """Check ``data_root`` as ``avsc check`` does before anything trains on it.

    Returns:
        The problems accepted with ``allow_invalid_data: true`` (also recorded for the book).

    Raises:
        AvscError: the root has problems and ``allow_invalid_data`` is false; the message is
            the check's report.
    """
    from avsc_lib.data.checks import check_root, format_report

    root = params["data_root"]
    log(f"avsc run: checking the data set {root} (as avsc check does) ...")
    problems = check_root(root, params["clip_seconds"], params["max_short_fraction"],
                          workers=2 * feature_workers(params))
    accepted = [str(problem) for problem in problems]
    if problems and not params["allow_invalid_data"]:
        raise AvscError(f"the data set has problems; nothing was run.\n{format_report(root, problems)}\n"
                        "fix them, or run with -p allow_invalid_data true to train on it knowingly")
    if problems:
        log(f"warning: training on a data set with {len(problems)} problem(s) (allow_invalid_data: true)")
    write_text(data_check_file(params), json.dumps({"data_root": root, "problems": accepted}, indent=2) + "\n")
    return accepted


def accepted_problems(params: Mapping[str, Any]) -> list[str]:
    """The problems of ``data_root`` that the last run accepted (``allow_invalid_data``)."""
    try:
        return list(json.loads(data_check_file(params).read_text())["problems"])
    except (OSError, ValueError, KeyError, TypeError):
        return []
