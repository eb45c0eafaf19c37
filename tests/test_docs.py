"""README.md (a product page) and docs/ (a page per topic): links resolve, the README stays short and
keeps what a visitor and the hosted demo need, and the generated leaderboard page is what the
published CSVs render today."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from deblur import corpus
from eval.cli import readme_parser
from eval.readme import END, LEADERBOARDS, PAGE, START, render

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
PAGES = sorted([README] + list(DOCS.glob("*.md")))

# [text](target) and ![alt](target); a target ends at whitespace or ')'. Code spans are dropped first,
# so `f(x)[i](j)`-like text inside backticks is never read as a link.
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def _links(path: Path) -> list[str]:
    return LINK.findall(CODE.sub("", path.read_text()))


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (not '-' or '_'), spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", path.read_text(), flags=re.S)
    seen: dict[str, int] = {}
    anchors = set()
    for line in text.splitlines():
        m = re.match(r"#{1,6} (.+)", line)
        if m:
            slug = _slug(m.group(1))
            n = seen.get(slug, 0)
            anchors.add(slug if n == 0 else f"{slug}-{n}")
            seen[slug] = n + 1
    return anchors


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_points_at_an_existing_file_and_heading(page):
    broken = []
    for target in _links(page):
        if re.match(r"[a-z]+:", target):  # http:, https:, mailto: are not checked (no network in tests)
            continue
        file, _, anchor = target.partition("#")
        dest = (page.parent / file).resolve() if file else page
        if not dest.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading #{anchor} in {dest.name})")
    assert not broken, f"{page.name}: {broken}"


def test_readme_is_a_short_product_page_with_the_quick_start():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    # The two quick-start commands, verbatim (the bar).
    assert "pip install -r requirements.txt && python app.py" in text
    assert "pip install -r requirements.txt && python -m pytest -q" in text
    # The hosted demo (a Gradio Space) reads its entry point from the front matter.
    front = text.split("---")[1]
    assert text.startswith("---\n") and "sdk: gradio" in front and "app_file: app.py" in front
    for image in sorted((ROOT / "gallery").glob("*.png")):
        assert f"](gallery/{image.name})" in text, f"the gallery image {image.name} is not shown"


def test_readme_documentation_section_links_every_docs_page():
    text = README.read_text()
    section = text[text.index("## Documentation"):]
    linked = {Path(t.partition("#")[0]).name for t in _links(README) if t.startswith("docs/")}
    listed = {Path(t).name for t in LINK.findall(section)}
    pages = {p.name for p in DOCS.glob("*.md")}
    assert pages <= listed, f"docs pages missing from README's Documentation section: {pages - listed}"
    assert pages <= linked


def test_readme_credits_every_corpus_source():
    """The corpus's CC-BY / CC-BY-SA photos need attribution: every package it reads is named in the
    README's data section (the per-photo credits are in the corpus manifest)."""
    text = README.read_text()
    section = text[text.index("## Data and credits"):text.index("## Licences")]
    table_rows = {line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")}
    debian = [src.package for src in corpus.DEBIAN_SOURCES] + [corpus.GCOMPRIS]
    assert set(debian) <= table_rows, f"Debian packages not credited: {set(debian) - table_rows}"
    registry = list(corpus.DOWNLOADS) + ["scikit-image", "scikit-learn", "matplotlib"]
    missing = [name for name in registry if f"`{name}`" not in section]
    assert not missing, f"corpus sources not credited in README: {missing}"


def test_leaderboards_page_is_what_the_published_csvs_render():
    """docs/leaderboards.md is generated: after publishing a run, `python -m eval readme --write`."""
    text = PAGE.read_text()
    assert PAGE == DOCS / "leaderboards.md"
    i, j = text.index(START) + len(START), text.index(END)
    assert text[i:j] == "\n" + render(LEADERBOARDS), (
        "docs/leaderboards.md differs from the published CSVs: run `python -m eval readme --write`")


def test_readme_command_writes_the_leaderboards_page_by_default():
    assert readme_parser().parse_args(["--write"]).write == PAGE
    assert readme_parser().parse_args(["--write", "x.md"]).write == Path("x.md")
    assert readme_parser().parse_args([]).write is None  # prints
