"""Documentation that runs: every code block of README.md and docs/**/*.md, and every file in
examples/, runs here, so the guides cannot drift from the code.

One test per markdown file: its python blocks run in order in one fresh process (sharing
variables like notebook cells), its bash blocks with bash in the same folder, the working
directory a fresh temporary folder and the venv's bin first on PATH. Marks on the line before a
fence (``<!-- docs-test: skip (reason) -->``, ``s3``, ``run``) are described in
``tests/helpers/docblocks.py`` and docs/guides/testing.md. A failure names the file and the
line of the block, with its error and stderr.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from helpers.docblocks import DocsTestError, anchors, broken_links, clean_env, plan, run_file

ROOT = Path(__file__).resolve().parents[2]
MARKDOWN = sorted([*ROOT.glob("*.md"), *(ROOT / "docs").rglob("*.md")])
EXAMPLES = sorted(p for p in (ROOT / "examples").iterdir()
                  if p.is_file() and not p.name.startswith("."))


def _id(p: Path) -> str:
    return str(p.relative_to(ROOT))


def _s3_env(request: pytest.FixtureRequest) -> dict[str, str]:
    server = request.getfixturevalue("s3_server")  # skips without SeaweedFS
    opts = server.storage_options()
    return {"PARQUEDB_S3_URI": f"s3://{server.bucket}/docs-{uuid.uuid4().hex[:12]}",
            "PARQUEDB_S3_ENDPOINT": opts["endpoint_url"],
            "AWS_ACCESS_KEY_ID": opts["key"], "AWS_SECRET_ACCESS_KEY": opts["secret"]}


def test_the_docs_are_found() -> None:
    names = {_id(p) for p in MARKDOWN}
    assert {"README.md", "docs/architecture.md", "docs/guides/testing.md"} <= names


@pytest.mark.parametrize("md", MARKDOWN, ids=[_id(p) for p in MARKDOWN])
def test_markdown_blocks_run(md: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    blocks = plan(md)  # a bad mark raises DocsTestError here, naming the line
    s3 = _s3_env(request) if any(b.s3 for b in blocks) else None
    outcome = run_file(md, tmp_path, s3=s3)
    if not outcome.ok:
        pytest.fail(outcome.report, pytrace=False)


@pytest.mark.parametrize("md", MARKDOWN, ids=[_id(p) for p in MARKDOWN])
def test_markdown_links_resolve(md: Path) -> None:
    """Every relative link names a file that exists, and an #anchor a heading it has."""
    problems = broken_links(md)
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.mark.parametrize("script", EXAMPLES, ids=[_id(p) for p in EXAMPLES])
def test_example_runs(script: Path, tmp_path: Path) -> None:
    """Every file in examples/ is a script a user can run from any folder."""
    runner = {".py": [sys.executable], ".sh": ["bash"]}.get(script.suffix)
    assert runner is not None, f"{script.name}: examples/ holds only .py and .sh scripts"
    run = subprocess.run([*runner, str(script)], cwd=tmp_path, env=clean_env(tmp_path),
                         stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                         check=False)
    assert run.returncode == 0, f"{script.name} failed:\n{run.stdout}\n{run.stderr}"
    assert run.stdout.strip(), f"{script.name} printed nothing"
    assert "Traceback" not in run.stderr, run.stderr


# -- the harness bites -----------------------------------------------------------------------
def _md(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "guide.md"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_failing_python_block_fails_and_names_its_line(tmp_path: Path) -> None:
    md = _md(tmp_path, "# Guide\n\n```python\nx = 1\n```\n\nText.\n\n"
                       "```python\nassert x == 2, 'x is not 2'\n```\n")
    (tmp_path / "cwd").mkdir()
    outcome = run_file(md, tmp_path / "cwd")
    assert not outcome.ok
    assert f"{md}:10:" in outcome.report          # the failing block's first code line
    assert "x is not 2" in outcome.report


def test_blocks_share_state_in_order_and_bash_sees_the_folder(tmp_path: Path) -> None:
    md = _md(tmp_path, "```python\nimport pathlib\nname = 'made.txt'\n"
                       "pathlib.Path(name).write_text('hi')\n```\n"
                       "```bash\ntest \"$(cat made.txt)\" = hi\ncommand -v parquedb\n"
                       "echo again > again.txt\n```\n"
                       "```python\nassert pathlib.Path('again.txt').read_text() == 'again\\n'\n"
                       "print(name)\n```\n")
    (tmp_path / "cwd").mkdir()
    outcome = run_file(md, tmp_path / "cwd")
    assert outcome.ok, outcome.report
    assert outcome.ran == 3
    assert "made.txt" in outcome.report            # stdout of the run


def test_a_failing_bash_block_fails(tmp_path: Path) -> None:
    md = _md(tmp_path, "```bash\ntrue\nfalse\necho never\n```\n")
    outcome = run_file(md, tmp_path)
    assert not outcome.ok
    assert f"{md}:2:" in outcome.report and "exited with 1" in outcome.report


def test_skip_mark_skips_and_needs_a_reason(tmp_path: Path) -> None:
    md = _md(tmp_path, "<!-- docs-test: skip (a fragment) -->\n```python\nraise SystemExit(3)\n"
                       "```\n")
    outcome = run_file(md, tmp_path)
    assert outcome.ok and outcome.ran == 0 and outcome.skipped == 1
    md = _md(tmp_path, "<!-- docs-test: skip -->\n```python\nprint(1)\n```\n")
    with pytest.raises(DocsTestError, match="needs a reason"):
        plan(md)
    md = _md(tmp_path, "<!-- docs-test: skip () -->\n```python\nprint(1)\n```\n")
    with pytest.raises(DocsTestError, match="needs a reason"):
        plan(md)


def test_run_mark_on_an_unknown_language_is_an_error(tmp_path: Path) -> None:
    md = _md(tmp_path, "<!-- docs-test: run -->\n```typescript\nconst x = 1\n```\n")
    with pytest.raises(DocsTestError, match="nothing runs that language"):
        plan(md)


def test_run_mark_checks_json(tmp_path: Path) -> None:
    md = _md(tmp_path, "<!-- docs-test: run -->\n```json\n{\"a\": 1,}\n```\n")
    outcome = run_file(md, tmp_path)
    assert not outcome.ok and "does not parse" in outcome.report
    md = _md(tmp_path, "```json\n{\"a\": 1,}\n```\n")  # unmarked json is prose
    assert run_file(md, tmp_path).ok


def test_unknown_or_stray_marks_are_errors(tmp_path: Path) -> None:
    md = _md(tmp_path, "<!-- docs-test: skipp (typo) -->\n```python\nprint(1)\n```\n")
    with pytest.raises(DocsTestError, match="unknown docs-test mark"):
        plan(md)
    md = _md(tmp_path, "<!-- docs-test: skip (why) -->\n\n```python\nprint(1)\n```\n")
    with pytest.raises(DocsTestError, match="right before a fence"):
        plan(md)
    md = _md(tmp_path, "<!-- docs-test: s3 -->\n```json\n{}\n```\n")
    with pytest.raises(DocsTestError, match="only python and bash"):
        plan(md)


def test_a_block_that_exits_fails(tmp_path: Path) -> None:
    md = _md(tmp_path, "```python\nimport sys\nsys.exit(0)\n```\n```python\nprint('after')\n```\n")
    outcome = run_file(md, tmp_path)
    assert not outcome.ok and "SystemExit" in outcome.report


def test_s3_blocks_are_skipped_without_a_server_and_get_its_variables(tmp_path: Path) -> None:
    text = ("<!-- docs-test: s3 -->\n```python\nimport os\n"
            "assert os.environ['PARQUEDB_S3_URI'].startswith('s3://'), 'no uri'\n"
            "assert os.environ['PARQUEDB_S3_ENDPOINT'] == 'http://x', 'no endpoint'\n```\n")
    md = _md(tmp_path, text)
    outcome = run_file(md, tmp_path)
    assert outcome.ok and outcome.ran == 0 and outcome.skipped == 1
    env = {"PARQUEDB_S3_URI": "s3://b/p", "PARQUEDB_S3_ENDPOINT": "http://x",
           "AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s"}
    assert run_file(md, tmp_path, s3=env).ok
    env["PARQUEDB_S3_ENDPOINT"] = "http://y"
    outcome = run_file(md, tmp_path, s3=env)
    assert not outcome.ok and "no endpoint" in outcome.report


def test_indented_fences_in_lists_run(tmp_path: Path) -> None:
    md = _md(tmp_path, "1. Step:\n\n   ```python\n   x = 41\n   ```\n2. Then:\n\n"
                       "   ```python\n   assert x + 1 == 42\n   ```\n")
    outcome = run_file(md, tmp_path)
    assert outcome.ok and outcome.ran == 2, outcome.report


def test_the_link_check_bites(tmp_path: Path) -> None:
    (tmp_path / "other.md").write_text("# Other guide\n\n## The `find` call, again\n\n"
                                       "```python\n# not a heading\n```\n")
    md = _md(tmp_path, "See [other](other.md), [a part](other.md#the-find-call-again),\n"
                       "[missing](nope.md), [bad anchor](other.md#not-a-heading), "
                       "[web](https://example.com/x.md) and `[code](nope.md)`.\n"
                       "A [wrapped\nlink](gone.md).\n")
    assert anchors(tmp_path / "other.md") == {"other-guide", "the-find-call-again"}
    problems = broken_links(md)
    assert len(problems) == 3, problems
    assert "nope.md: no such file" in problems[0]
    assert "no heading #not-a-heading" in problems[1]
    assert f"{md}:3: gone.md: no such file" in problems[2]


def test_an_unclosed_fence_is_an_error(tmp_path: Path) -> None:
    md = _md(tmp_path, "```python\nprint(1)\n")
    with pytest.raises(DocsTestError, match="never closed"):
        plan(md)
