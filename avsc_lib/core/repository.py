"""The study's public repository: the book's launch and repository buttons, the Colab install.

One setting says where the repository lives: ``repository.url`` in ``book/_config.yml``. The
environment variable ``AVSC_REPOSITORY_URL`` wins over it (set but empty: no repository), and
when neither names one, the clone's ``origin`` remote is used, as an https URL. Unknown (a clone
without a remote) means no launch, repository or issue buttons at all rather than broken ones.
``AVSC_JUPYTERHUB_URL`` adds a JupyterHub launch button beside Binder and Colab.
"""

from __future__ import annotations

import copy
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any, Mapping
from urllib.parse import urlsplit

import yaml

from avsc_lib.core.params import PROJECT_ROOT

URL_ENV = "AVSC_REPOSITORY_URL"
JUPYTERHUB_ENV = "AVSC_JUPYTERHUB_URL"
BOOK_CONFIG = PROJECT_ROOT / "book" / "_config.yml"
# The hosts sphinx-book-theme builds repository and launch links for (Colab: GitHub only).
HOSTS = ("github.com", "gitlab.com", "bitbucket.org")
LAUNCH_KEYS = ("binderhub_url", "colab_url", "jupyterhub_url", "deepnote_url", "jupyterlite_url")
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button")

_SCP_REMOTE = re.compile(r"^(?:ssh://)?(?:[^@/\s]+@)?(?P<host>[\w.-]+)(?::\d+)?[:/](?P<path>[^\s]+)$")


def https_url(remote: str) -> str | None:
    """A git remote (https, ``git@host:org/repo.git``, ``ssh://``) as the repository's public
    https URL without credentials or ``.git``; None for a remote that is no web address (a
    local path) or has no ``org/repo`` part."""
    remote = remote.strip()
    if not remote or remote.startswith(("/", ".", "file:")):
        return None
    if remote.startswith(("https://", "http://")):
        parts = urlsplit(remote)
        host, path = parts.hostname, parts.path
    else:
        match = _SCP_REMOTE.match(remote)
        if match is None:
            return None
        host, path = match.group("host"), match.group("path")
    path = re.sub(r"\.git$", "", path.strip("/"))
    if not host or path.count("/") < 1:
        return None
    return f"https://{host.lower()}/{path}"


def origin_url(root: Path = PROJECT_ROOT) -> str | None:
    """The https URL of the clone's ``origin`` remote, or None (no git, no remote)."""
    try:
        result = subprocess.run(["git", "-C", str(root), "remote", "get-url", "origin"],
                                capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return https_url(result.stdout) if result.returncode == 0 else None


def book_config(path: Path = BOOK_CONFIG) -> dict[str, Any]:
    """The book's configuration (``book/_config.yml``)."""
    return yaml.safe_load(path.read_text()) or {}


def repository_url(config: Mapping[str, Any] | None = None, root: Path = PROJECT_ROOT) -> str | None:
    """The repository's public https URL: ``$AVSC_REPOSITORY_URL``, else the book configuration's
    ``repository.url``, else the ``origin`` remote; None when none is known or it is no web URL."""
    if URL_ENV in os.environ:
        return https_url(os.environ[URL_ENV])
    config = book_config() if config is None else config
    configured = str((config.get("repository") or {}).get("url") or "")
    if configured:
        return https_url(configured)
    return origin_url(root)


def host(url: str) -> str:
    """The host of a URL, lower case (``github.com``)."""
    return (urlsplit(url).hostname or "").lower()


def configure_book(config: Mapping[str, Any], url: str | None) -> dict[str, Any]:
    """The book configuration with launch, repository and issue buttons for ``url``.

    Args:
        config: ``book/_config.yml`` as read (its ``launch_buttons`` name Binder and Colab).
        url: the repository (see :func:`repository_url`); None, or a host sphinx-book-theme
            cannot link to: every such button is left out.

    Returns:
        A copy of ``config``: ``repository.url`` set and the buttons on, or every launch URL
        empty and the buttons off.
    """
    config = copy.deepcopy(dict(config))
    repository = config.setdefault("repository", {})
    html = config.setdefault("html", {})
    launch = config.setdefault("launch_buttons", {})
    if url is not None and host(url) not in HOSTS:
        print(f"note: {url} is not on {', '.join(HOSTS)}; the book gets no launch or repository buttons",
              file=sys.stderr)
        url = None
    if url is None:
        repository["url"] = ""
        html.update({button: False for button in REPOSITORY_BUTTONS})
        launch.update({key: "" for key in LAUNCH_KEYS if key in launch})
    else:
        repository["url"] = url
        html.update({button: True for button in REPOSITORY_BUTTONS})
        if os.environ.get(JUPYTERHUB_ENV):
            launch["jupyterhub_url"] = os.environ[JUPYTERHUB_ENV].strip()
        if host(url) != "github.com":
            launch["colab_url"] = ""  # Colab opens notebooks from GitHub only
    # sphinx.config.html_theme_options replaces the theme options Jupyter Book derives from the
    # sections above, so the launch and repository settings go there as well.
    theme = (config.get("sphinx") or {}).get("config", {}).get("html_theme_options")
    if theme is not None:
        theme.update({"launch_buttons": launch, "repository_url": repository["url"],
                      "repository_branch": repository.get("branch") or "main",
                      "path_to_docs": repository.get("path_to_book") or "",
                      **{button: html[button] for button in REPOSITORY_BUTTONS}})
    return config

