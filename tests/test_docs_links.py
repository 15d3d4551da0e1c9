"""Every relative link in the project's Markdown leads somewhere: the file exists, and so does its anchor.

The README sends readers to docs/ and convert/ for the record behind its figures; a moved or
renamed section must not leave them at a dead link.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md"), ROOT / "convert" / "README.md"])
LINK = re.compile(r"\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


@cache  # a page's anchors are looked up once for every link to it
def anchors(page: Path) -> set[str]:
    """The anchors GitHub makes for a page: each heading's text in lower case, punctuation dropped,
    spaces as hyphens (a repeated heading gets -1, -2 …), and every explicit ``<a id="…">``."""
    text = FENCE.sub("", page.read_text())
    found: set[str] = set(re.findall(r'<a id="([^"]+)"', text))
    seen: dict[str, int] = {}
    for heading in re.findall(r"^#{1,6} +(.+?) *$", text, re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return found


def relative_links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text())
    return [link for link in LINK.findall(text) if not re.match(r"[a-z]+:", link)]


def test_the_anchor_rule_matches_githubs_on_headings_like_ours(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# Speed\n## The model: convert/\n## Install on the Raspberry Pi\n## Speed\n"
                    '<a id="where-it-stands"></a>\n```sh\n# not a heading\n```\n')
    assert anchors(page) == {"speed", "the-model-convert", "install-on-the-raspberry-pi", "speed-1",
                             "where-it-stands"}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_leads_to_a_file_and_anchor_that_exist(page):
    dead = []
    for link in relative_links(page):
        target, _, anchor = link.partition("#")
        path = (page.parent / target).resolve() if target else page
        if not path.exists():
            dead.append(f"{link} (no file {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path})")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            dead.append(f"{link} (no heading or <a id> '{anchor}' in {path.relative_to(ROOT)})")
    assert not dead, f"dead links in {page.relative_to(ROOT)}: {', '.join(dead)}"
