"""The README's references to the tests stay true: every `tests/FILE.py` and `FILE.py::test_name`
it cites exists."""

import glob
import os
import re

from facekp import configs

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _readme():
    with open(os.path.join(REPO, "README.md")) as f:
        return f.read()


def _tests_defined():
    """{(file name, test function name)} of the test modules."""
    defined = set()
    for path in glob.glob(os.path.join(REPO, "tests", "test_*.py")):
        with open(path) as f:
            names = re.findall(r"^def (test_\w+)\(", f.read(), re.MULTILINE)
        defined.update((os.path.basename(path), name) for name in names)
    return defined


def test_every_test_the_readme_names_exists():
    cited = set(re.findall(r"(test_\w+\.py)::(test_\w+)", _readme()))
    assert cited and sorted(cited - _tests_defined()) == []


def test_every_test_file_the_readme_names_exists():
    cited = set(re.findall(r"tests/(test_\w+\.py)", _readme()))
    assert cited and sorted(f for f in cited if not os.path.exists(os.path.join(REPO, "tests", f))) == []


def _anchors(text):
    """GitHub's anchors of a markdown text: its headings' slugs (outside code blocks) and <a name>s."""
    prose = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    headings = re.findall(r"^#{1,6} (.+)$", prose, re.MULTILINE)
    slugs = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}
    return slugs | set(re.findall(r'<a name="([^"]+)"', text))


def test_every_section_link_of_the_readme_leads_somewhere():
    text = _readme()
    links = set(re.findall(r"\]\(#([^)]+)\)", text))
    assert links and sorted(links - _anchors(text)) == []


def test_section_anchors_follow_githubs_slugs():
    text = '# The heatmap + offset head\n```\n# not a heading\n```\n## `--refine` 2\n<a name="flips"></a>'
    anchors = _anchors(text)
    assert anchors == {"the-heatmap--offset-head", "--refine-2", "flips"}


def test_the_readme_names_every_recipe_where_it_lists_them():
    listed = next(line for line in _readme().splitlines() if line.startswith("| `python train.py --config NAME"))
    missing = [n for n in configs.names() if not n.endswith("_smoke") and f"`{n}`" not in listed]
    assert missing == []
