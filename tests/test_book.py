"""`avsc book`: the book of a smoke run builds offline and every chapter renders in Chromium.

The browser test drives Debian's headless Chromium over the DevTools protocol with every
non-local request sent to a dead proxy, so a page that needs the internet (a CDN for MathJax,
fonts, scripts) fails here. Screenshots of every chapter land in ``build/screenshots/``.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from avsc_lib.study import book
from avsc_lib.study import runner as study
REPO = Path(__file__).resolve().parent.parent

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars", "--remote-allow-origins=*",
                  "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>")
RAW_LATEX = ("$$", "\\frac", "\\begin{", "\\mathrm", "\\sum", "\\(", "\\[")
# Chapters whose sources hold figures / tables / math (the rest are checked for loading and LaTeX).
FIGURE_PAGES = {"audio", "fusion", "data", "notebooks/01_features"}
TABLE_PAGES = {"intro": 1, "data": 4, "training": 3, "complexity": 1, "results": 4, "differences": 1,
               "reproducing": 3}
MATH_PAGES = {"audio", "fusion", "training", "notebooks/01_features"}
EXAMPLE_URL = "https://github.com/example-org/avsc-study"  # the repository setting of the tests' book


# --- a tiny DevTools client ---------------------------------------------------------------------


def chromium_binary() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def must_have_chromium() -> bool:
    """Chromium's absence fails the browser test where it could have been installed: as root
    (``make test`` installs it with apt-get) and in CI."""
    return bool(os.environ.get("CI")) or os.geteuid() == 0


class Browser:
    """Headless Chromium on a fresh profile, driven over the DevTools websocket."""

    def __init__(self, binary: str, profile: Path):
        self.process = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                                         "--remote-debugging-port=0", "about:blank"],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = profile / "DevToolsActivePort"
        deadline = time.time() + 30
        while not port_file.exists() or not port_file.read_text().strip():
            if time.time() > deadline or self.process.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10))
        page = next(t for t in targets if t["type"] == "page")
        import websocket

        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=60, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict] = []
        for method in ("Page.enable", "Network.enable", "Runtime.enable"):
            self.call(method)
        self.width = 1280
        self.resize(1280)

    def resize(self, width: int, height: int = 900) -> None:
        """Lay pages out for a window ``width`` CSS pixels wide."""
        self.width = width
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)

    def call(self, method: str, **params) -> dict:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self.next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self.events.append(message)

    def wait_for(self, method: str, timeout: float = 60) -> None:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if any(e.get("method") == method for e in self.events):
                return
            self.ws.settimeout(max(0.1, deadline - time.time()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(method)

    def open(self, url: str) -> None:
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def requested_urls(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events if e.get("method") == "Network.requestWillBeSent"]

    def screenshot(self, path: Path, max_height: int = 5000) -> None:
        """The page from its top, as tall as its content (at most ``max_height``): the window is
        made that tall first, since capturing beyond the viewport lays narrow pages out shifted."""
        size = self.call("Page.getLayoutMetrics")["cssContentSize"]
        height = max(900, min(max_height, int(size["height"])))
        width = self.width
        self.resize(width, height)
        try:
            self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
            data = self.call("Page.captureScreenshot", format="png")["data"]
        finally:
            self.resize(width)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.ws.close()
        except Exception:
            pass
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()


# Tables that leave the article's column without a scrolling container around them (cut off),
# and the header cells of the provenance table that are empty.
TABLE_REPORT = """(() => {
  const article = document.querySelector('.bd-article') || document.querySelector('main');
  const edge = article.getBoundingClientRect().right + 1;
  const cut = [];
  for (const table of article.querySelectorAll('table')) {
    let box = table, scrolls = false;
    for (let node = table.parentElement; node && node !== article; node = node.parentElement) {
      if (['auto', 'scroll'].includes(getComputedStyle(node).overflowX)) { box = node; scrolls = true; break; }
    }
    if (box.getBoundingClientRect().right > edge || (!scrolls && table.scrollWidth > table.clientWidth + 1)) {
      cut.push(table.innerText.slice(0, 60));
    }
  }
  const provenance = [...article.querySelectorAll('table')].filter(t => t.innerText.startsWith('produced with'));
  const emptyHeaders = provenance.flatMap(t => [...t.querySelectorAll('th')].filter(th => !th.innerText.trim()));
  return {cut, provenance: provenance.length, emptyHeaders: emptyHeaders.length};
})()"""

# The header's launch and source-repository dropdowns: each one's button is visible and, once
# clicked, shows its links.
LAUNCH_REPORT = """(async () => {
  const visible = e => !!e && e.getBoundingClientRect().width > 0 && getComputedStyle(e).visibility !== 'hidden';
  const open = async selector => {
    const menu = document.querySelector(selector);
    if (!menu || !visible(menu.querySelector('button'))) return null;
    menu.querySelector('button').click();
    await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
    const links = [...menu.querySelectorAll('a')].filter(visible).map(a => a.href);
    menu.querySelector('button').click();
    return links;
  };
  return {launch: await open('.dropdown-launch-buttons'), source: await open('.dropdown-source-buttons')};
})()"""

PAGE_REPORT = """(async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; }
  await Promise.all([...document.images].map(i => i.complete ? null : new Promise(r => { i.onload = i.onerror = r; })));
  const main = document.querySelector('main') || document.body;
  const clone = main.cloneNode(true);
  clone.querySelectorAll('pre, code, mjx-container, script, style, .highlight').forEach(n => n.remove());
  return {
    title: document.title,
    h1: [...main.querySelectorAll('h1')].map(h => h.innerText),
    images: [...main.querySelectorAll('img')].map(i => ({src: i.getAttribute('src'), ok: i.complete && i.naturalWidth > 0})),
    tables: main.querySelectorAll('table').length,
    math: main.querySelectorAll('mjx-container').length,
    text: clone.innerText,
  };
})()"""


# --- fixtures ---------------------------------------------------------------------------------


def _build_book(run: Path, out: Path, repository_url: str) -> Path:
    """A strict build (any Sphinx warning fails) with ``$AVSC_REPOSITORY_URL`` set as given."""
    from avsc_lib.core.repository import URL_ENV

    saved = os.environ.get(URL_ENV)
    os.environ[URL_ENV] = repository_url
    try:
        return book.build_book(run, out=out, strict=True)
    finally:
        if saved is None:
            os.environ.pop(URL_ENV)
        else:
            os.environ[URL_ENV] = saved


@pytest.fixture(scope="session")
def smoke_book(smoke_run, tmp_path_factory) -> Path:
    """The book of the shared smoke run, its repository known (launch and repository buttons)."""
    return _build_book(smoke_run, tmp_path_factory.mktemp("book"), EXAMPLE_URL)


@pytest.fixture(scope="session")
def bare_book(smoke_run, tmp_path_factory) -> Path:
    """The same book where no repository is known (as in a clone without a remote)."""
    return _build_book(smoke_run, tmp_path_factory.mktemp("bare-book"), "")


def _chapters(index: Path) -> list[str]:
    toc = yaml.safe_load((index.parents[2] / "src" / "_toc.yml").read_text())
    names = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                names.append(entry["file"])
            for key in ("chapters", "sections"):
                walk(entry.get(key, []))

    walk(toc.get("parts", []))
    return names


# --- tests ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_book_builds_every_chapter_offline(smoke_book, smoke_run):
    html = smoke_book.parent
    chapters = _chapters(smoke_book)
    executed = [f"notebooks/{p.stem}" for p in sorted(smoke_run.glob("0*.ipynb"))]
    assert set(executed) <= set(chapters)
    for chapter in chapters:
        page = (html / f"{chapter}.html").read_text()
        for tag in ("<script", "<link"):
            for ref in page.split(tag)[1:]:
                head = ref.split(">", 1)[0]
                assert 'src="http' not in head and 'href="http' not in head, f"{chapter}: {tag}{head}>"
    assert (html / "_static" / "mathjax" / "tex-chtml.js").exists()


@pytest.mark.slow
def test_injected_parameters_are_hidden_and_provenance_shown(smoke_book):
    html = smoke_book.parent
    page = (html / "notebooks" / "01_features.html").read_text()
    assert "output_dir" not in page and "params_file =" not in page and "params_file: str" not in page
    assert "importlib.util" not in page and "REPOSITORY" not in page  # the Colab install cell is removed
    assert "produced with" in page and "SYNTHETIC" in page
    assert "What produced this chapter" in (html / "audio.html").read_text()


def _hrefs(page: Path) -> list[str]:
    import html

    return [html.unescape(h) for h in re.findall(r'href="([^"]+)"', page.read_text())]


@pytest.mark.slow
def test_launch_buttons_open_the_source_notebooks(smoke_book, smoke_run):
    html = smoke_book.parent
    for executed in sorted(smoke_run.glob("0*.ipynb")):
        notebook = f"notebooks/{executed.name}"
        assert (REPO / notebook).is_file()  # the launched notebook is the source, not the executed copy
        hrefs = _hrefs(html / "notebooks" / f"{executed.stem}.html")
        assert f"https://mybinder.org/v2/gh/example-org/avsc-study/main?urlpath=lab/tree/{notebook}" in hrefs
        assert f"https://colab.research.google.com/github/example-org/avsc-study/blob/main/{notebook}" in hrefs
        assert EXAMPLE_URL in hrefs and any(h.startswith(f"{EXAMPLE_URL}/issues/new?") for h in hrefs)
    chapter = _hrefs(html / "audio.html")  # a Markdown chapter: the repository, nothing to launch
    assert EXAMPLE_URL in chapter and not any("mybinder.org" in h or "colab." in h for h in chapter)


@pytest.mark.slow
def test_a_book_without_a_repository_has_no_launch_or_repository_buttons(bare_book):
    for page in bare_book.parent.rglob("*.html"):
        text = page.read_text()
        assert "dropdown-launch-buttons" not in text and "mybinder.org" not in text, page.name
        assert not any(h.startswith(EXAMPLE_URL) or "/issues/new" in h for h in _hrefs(page)), page.name


@pytest.mark.slow
def test_no_page_names_an_absolute_path_of_the_machine(smoke_book, smoke_run):
    machine = (str(REPO), str(smoke_run.parent), str(Path.home()))
    for page in smoke_book.parent.rglob("*.html"):
        text = page.read_text()
        named = [path for path in machine if path in text]
        assert not named, f"{page.relative_to(smoke_book.parent)} names {named}"
    text = (smoke_book.parent / "notebooks" / "03_visual_subnetwork.html").read_text()
    assert re.search(r"visual features in build/cache/visual-\w+", text)


@pytest.mark.slow
def test_training_logs_are_folded_beside_a_summary_of_each_step(smoke_book):
    for name in ("02_audio_subnetwork", "03_visual_subnetwork", "04_fusion"):
        text = (smoke_book.parent / "notebooks" / f"{name}.html").read_text()
        epochs = [m.start() for m in re.finditer("Epoch 1/", text)]
        assert epochs, f"{name}: the executed notebook should hold the training log"
        for position in epochs:
            cell = text.rfind('<div class="cell ', 0, position)
            assert "tag_hide-output" in text[cell:cell + 80], f"{name}: a training log outside a folded output"
        assert "val accuracy (%)" in text and "this time" in text and "run folder in build/runs/" in text, name


@pytest.mark.slow
@pytest.mark.browser
def test_every_chapter_renders_in_chromium(smoke_book):
    binary = chromium_binary()
    if binary is None:
        message = "chromium is not installed (scripts/ensure_chromium.sh installs it as root; `make test` runs it)"
        if must_have_chromium():
            pytest.fail(message + "; as root or with CI set a failed install fails the run")
        pytest.skip(message)
    shots = REPO / "build" / "screenshots"  # beside the demo book, for a person to look at
    shutil.rmtree(shots, ignore_errors=True)
    shots.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(binary, Path(profile))
        try:
            for chapter in _chapters(smoke_book):
                page = smoke_book.parent / f"{chapter}.html"
                browser.open(page.as_uri())
                report = browser.evaluate(PAGE_REPORT)
                browser.screenshot(shots / f"{chapter.replace('/', '_')}.png")
                outside = [u for u in browser.requested_urls() if u.startswith(("http:", "https:"))]
                assert not outside, f"{chapter}: fetched from the network: {outside}"
                assert report["h1"], f"{chapter}: no heading; the page did not render"
                broken = [i["src"] for i in report["images"] if not i["ok"]]
                assert not broken, f"{chapter}: images that did not load: {broken}"
                if chapter in FIGURE_PAGES:
                    assert report["images"], f"{chapter}: expected figures"
                if chapter in TABLE_PAGES:
                    assert report["tables"] >= TABLE_PAGES[chapter], f"{chapter}: {report['tables']} tables"
                if chapter in MATH_PAGES:
                    assert report["math"] > 0, f"{chapter}: no typeset math"
                raw = [s for s in RAW_LATEX if s in report["text"]]
                assert not raw, f"{chapter}: raw LaTeX visible: {raw}"
                assert "Not available in this build" not in report["text"], f"{chapter}: a generated part is missing"
                assert "Epoch 1/" not in report["text"], f"{chapter}: a training log is not folded"
                tables = browser.evaluate(TABLE_REPORT)
                assert not tables["cut"], f"{chapter}: tables cut at the page's edge: {tables['cut']}"
                assert tables["provenance"] == 1 and tables["emptyHeaders"] == 0, f"{chapter}: provenance {tables}"
                buttons = browser.evaluate(LAUNCH_REPORT)
                assert EXAMPLE_URL in (buttons["source"] or []), f"{chapter}: no visible repository button: {buttons}"
                if chapter.startswith("notebooks/"):
                    hosts = {urllib.parse.urlsplit(u).hostname for u in buttons["launch"] or []}
                    assert hosts >= {"mybinder.org", "colab.research.google.com"}, f"{chapter}: {buttons}"
            browser.resize(600)  # a phone: the wide tables scroll inside the page
            (shots / "narrow").mkdir()
            for chapter in ("differences", "notebooks/02_audio_subnetwork", "notebooks/05_evaluation"):
                browser.open((smoke_book.parent / f"{chapter}.html").as_uri())
                browser.screenshot(shots / "narrow" / f"{chapter.replace('/', '_')}.png", max_height=2500)
                tables = browser.evaluate(TABLE_REPORT)
                assert not tables["cut"], f"{chapter}, 600 px wide: tables cut at the page's edge: {tables['cut']}"
        finally:
            browser.close()
    assert len(list(shots.glob("*.png"))) == len(_chapters(smoke_book))


# --- fast checks of the assembly ---------------------------------------------------------------


def test_paper_numbers_come_from_avsc_lib_paper():
    from avsc_lib.core import paper
    from avsc_lib.study import bookgen
    text = bookgen.paper_tables_md()
    for values in paper.ACCURACY.values():
        for value in values.values():
            if value is not None:
                assert f"| {value} " in text or f"| {value} |" in text
    from avsc_lib.core.params import text_code_differences

    differences = bookgen.differences_md(None)
    rows = [line for line in differences.splitlines()[2:] if line.startswith("| `")]
    assert [row.split("`")[1] for row in rows] == [key for key, _, _ in text_code_differences()]
    assert "| `visual_unfreeze` | **False**: §2.2.2" in differences and "train_video cells 29, 30" in differences


def test_run_results_beside_the_paper_and_labelled(tmp_path):
    from avsc_lib.core import paper
    from avsc_lib.core.params import load_params
    from avsc_lib.study import bookgen

    params = load_params(REPO / "params" / "smoke.yml")
    assert "Not available" in bookgen.run_results_md(tmp_path, params)
    metrics = {o: {"accuracy": 0.5 + i / 10, "log_loss": 1.25} for i, o in enumerate(paper.OUTPUTS)}
    (tmp_path / "metrics.json").write_text(json.dumps({**metrics, "backbone": {"weights": "imagenet"}}))
    text = bookgen.run_results_md(tmp_path, params)
    assert "SYNTHETIC" in text and "imagenet" in text
    assert "| late | 80.0 | 1.250 | " in text
    assert str(paper.ACCURACY[("gammatone", "development")]["late"]) in text


def test_toc_drops_absent_notebooks_and_cells_are_hidden(tmp_path):
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "audio.md").write_text("# a")
    (tmp_path / "notebooks" / "01_features.ipynb").write_text("{}")
    toc = [{"caption": "x", "chapters": [{"file": "audio", "sections": [{"file": "notebooks/02_audio"}]},
                                         {"file": "notebooks/01_features"}, {"file": "notebooks/05_eval"}]}]
    assert book._prune_toc(toc, tmp_path) == [
        {"caption": "x", "chapters": [{"file": "audio"}, {"file": "notebooks/01_features"}]}]
    nb = {"cells": [{"metadata": {"tags": ["parameters"]}}, {"metadata": {"tags": ["injected-parameters"]}},
                    {"metadata": {}}]}
    tags = [c["metadata"]["tags"] for c in book.hide_parameter_cells(nb)["cells"]]
    assert tags == [["parameters", "remove-cell"], ["injected-parameters", "remove-cell"], []]


def _run_ensure_chromium(tmp_path: Path, uid: int, apt_status: int | None) -> subprocess.CompletedProcess:
    """scripts/ensure_chromium.sh on a PATH without chromium, with a fake ``id`` and ``apt-get``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("mktemp", "tail", "rm", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    (bin_dir / "id").write_text(f"#!/bin/sh\necho {uid}\n")
    if apt_status is not None:
        (bin_dir / "apt-get").write_text(f"#!/bin/sh\necho \"apt-get $*: E: simulated\"\nexit {apt_status}\n")
    for tool in ("id", "apt-get"):
        if (bin_dir / tool).exists():
            (bin_dir / tool).chmod(0o755)
    return subprocess.run(["/bin/bash", str(REPO / "scripts" / "ensure_chromium.sh")], capture_output=True,
                          text=True, env={"PATH": str(bin_dir)})


def test_ensure_chromium_fails_as_root_when_apt_fails(tmp_path):
    result = _run_ensure_chromium(tmp_path, uid=0, apt_status=100)
    assert result.returncode != 0
    assert "error: apt-get install chromium failed" in result.stderr
    assert "apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core: E: simulated" in result.stderr


def test_ensure_chromium_fails_as_root_without_apt(tmp_path):
    result = _run_ensure_chromium(tmp_path, uid=0, apt_status=None)
    assert result.returncode != 0 and "apt-get is not available" in result.stderr


def test_ensure_chromium_only_notes_for_other_users(tmp_path):
    result = _run_ensure_chromium(tmp_path, uid=1000, apt_status=100)
    assert result.returncode == 0 and "the browser test will be skipped" in result.stderr


def test_browser_test_must_have_chromium_as_root_or_in_ci(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert not must_have_chromium()
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert must_have_chromium()
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setenv("CI", "true")
    assert must_have_chromium()


def test_avsc_book_without_run_builds_the_last_run(tmp_path, monkeypatch, capsys):
    from avsc_lib.cli import main
    from avsc_lib.core import params as params_module

    monkeypatch.setattr(params_module, "PROJECT_ROOT", tmp_path)  # the default build folder: tmp/build
    pointer = tmp_path / "build" / study.LAST_RUN_FILE
    assert study.last_run_pointer() == pointer
    assert main(["book"]) == 2
    assert capsys.readouterr().err.strip() == (
        f"avsc book: error: {pointer}: no run recorded yet; run 'avsc run' first or pass --run DIR")

    pointer.parent.mkdir(parents=True)
    pointer.write_text(f"{tmp_path / 'gone'}\n")
    assert main(["book"]) == 2
    assert capsys.readouterr().err.strip() == f"avsc book: error: {tmp_path / 'gone'}: run folder not found"
    run = tmp_path / "run-demo"
    run.mkdir()
    pointer.write_text(f"{run}\n")
    assert main(["book"]) == 2
    assert "run-demo: holds no executed notebooks (0[1-5]_*.ipynb); run 'avsc run' first" in capsys.readouterr().err

    (run / "01_features.ipynb").write_text("{}")
    built = []

    def fake_build(run_dir, out=None, strict=False):  # the build itself: test_book_builds_every_chapter_offline
        built.append(run_dir)
        return tmp_path / "book" / "index.html"

    monkeypatch.setattr(book, "build_book", fake_build)
    assert main(["book"]) == 0
    assert built == [run.resolve()] and capsys.readouterr().out.strip() == str(tmp_path / "book" / "index.html")
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "05_evaluation.ipynb").write_text("{}")
    assert main(["book", "--run", str(other)]) == 0 and built[-1] == other.resolve()  # --run wins


def test_book_without_run_is_a_clear_error(tmp_path):
    from avsc_lib.core.errors import AvscError

    with pytest.raises(AvscError, match="no executed notebooks"):
        book.build_book(tmp_path)


def test_pages_workflow_builds_the_demo_book_and_deploys_it():
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "book.yml").read_text())
    steps = [s for job in workflow["jobs"].values() for s in job["steps"]]
    assert any("make book" in s.get("run", "") for s in steps)
    uses = {s.get("uses", "").split("@")[0] for s in steps}
    assert {"actions/upload-pages-artifact", "actions/deploy-pages"} <= uses


def test_book_config_renders_offline():
    config = yaml.safe_load((REPO / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert "sphinx-mathjax-offline" in config["sphinx"]["extra_extensions"]
    assert config["launch_buttons"]["thebe"] is False
