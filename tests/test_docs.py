"""The documentation (issue 16): every public name of every module is in the API reference,
the pages generated from the code cover the schema and the registries, every tutorial and
guide page is reachable, and the README stays short. The full build (``sphinx-build -W``,
which executes the tutorials) is part of the README's test command; these tests check the
parts that do not need Sphinx, in seconds."""

import importlib
import json
import re
import sys
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the API pages import every module (neurolearn[torch])")
pytestmark = pytest.mark.torch

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def docs_ext():
    sys.path.insert(0, str(DOCS / "_ext"))
    try:
        yield importlib.import_module("neurolearn_docs")
    finally:
        sys.path.remove(str(DOCS / "_ext"))


@pytest.fixture(scope="module")
def api(docs_ext, tmp_path_factory):
    out = tmp_path_factory.mktemp("api")
    listed = docs_ext.write_api(out / "api", out / "_generated")
    return out / "api", listed


def test_every_public_name_appears_in_the_api_reference(api, docs_ext):
    folder, listed = api
    modules = docs_ext.public_modules()
    assert "neurolearn.torch" in modules and "neurolearn.training.config" in modules
    index = (folder / "index.rst").read_text()
    for name, module in modules.items():
        assert f"   {name}\n" in index, f"{name} missing from the API index"
        page = (folder / f"{name}.rst").read_text()
        assert f".. automodule:: {name}" in page
        for item in module.__all__:
            assert item in listed[name], f"{name}.{item} not listed"
            if item == "__version__":
                assert "__version__" in page
                continue
            # documented on this page (autosummary entry) or linked to its home module
            own = re.search(rf"^   {re.escape(item)}$", page, re.M)
            linked = re.search(rf":py:obj:`{re.escape(item)} <[\w.]+\.{re.escape(item)}>`", page)
            assert own or linked, f"{name}.{item} neither documented nor linked on {name}.rst"


def test_reexported_names_link_to_the_module_that_defines_them(api):
    folder, _ = api
    page = (folder / "neurolearn.torch.rst").read_text()
    # SpikingNetwork is defined in neurolearn.torch.network and documented there
    assert ":py:obj:`SpikingNetwork <neurolearn.torch.network.SpikingNetwork>`" in page
    home = (folder / "neurolearn.torch.network.rst").read_text()
    assert re.search(r"^   SpikingNetwork$", home, re.M)


def test_generated_tables_cover_the_schema_and_registries(docs_ext, tmp_path):
    from neurolearn.brian.backends import BACKEND_TABLE
    from neurolearn.datasets import DATASETS
    from neurolearn.spec import list_models
    from neurolearn.training import CONFIG_SCHEMA

    docs_ext.write_tables(tmp_path)
    schema = (tmp_path / "config_schema.md").read_text()
    for section, keys in CONFIG_SCHEMA.items():
        assert f"### `[{section}]`" in schema
        for key in keys:
            assert f"| `{key}` |" in schema, f"[{section}] {key} missing"
    backends = (tmp_path / "backends.md").read_text()
    assert all(f"`{name}`" in backends for name in BACKEND_TABLE)
    datasets = (tmp_path / "datasets.md").read_text()
    assert all(f"`{name}`" in datasets for name in DATASETS)
    zoo = (tmp_path / "zoo.md").read_text()
    assert all(f"`{spec.name}`" in zoo for spec in list_models())


def test_results_page_renders_a_record(docs_ext):
    record = {
        "accuracy": 0.975,
        "per_seed": [0.97, 0.98],
        "configurations": {"hom": {"accuracy": 0.9, "n": 3}, "het": {"accuracy": 0.95, "n": 3}},
        "series": list(range(50)),
    }
    text = "\n".join(docs_ext.render_record(record))
    assert "| `accuracy` | 0.975 |" in text
    assert "| `per_seed` | 0.97, 0.98 |" in text
    assert "| `hom` | 0.9 | 3 |" in text and "| `het` | 0.95 | 3 |" in text
    assert "`series` (50 values)" in text


def _toctree_entries(page: Path) -> list[str]:
    text = page.read_text()
    blocks = re.findall(r"```\{toctree\}\n(.*?)```", text, re.S)
    return [
        line.strip()
        for block in blocks
        for line in block.splitlines()
        if line.strip() and not line.startswith(":")
    ]


@pytest.mark.parametrize("folder", ["tutorials", "guide", "howto"])
def test_every_page_is_in_its_toctree(folder):
    entries = _toctree_entries(DOCS / folder / "index.md")
    pages = sorted(p.stem for p in (DOCS / folder).glob("*.md") if p.stem != "index")
    assert pages and sorted(entries) == pages


def test_tutorials_are_executed_notebooks():
    tutorials = sorted((DOCS / "tutorials").glob("0*.md"))
    assert len(tutorials) == 6
    for page in tutorials:
        text = page.read_text()
        assert text.startswith("---\nfile_format: mystnb\n"), page.name
        assert text.count("```{code-cell}") >= 3, page.name


def test_readme_is_short_and_keeps_the_command_blocks():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) < 250
    for marker in ("main-command", "test-command"):
        assert readme.count(f"<!-- {marker} -->") == 1
        assert readme.count(f"<!-- /{marker} -->") == 1
    block = readme.split("<!-- test-command -->")[1].split("<!-- /test-command -->")[0]
    assert "tools/ci-test.sh" in block  # both CI legs, the docs build in the first
    script = (ROOT / "tools" / "ci-test.sh").read_text()
    assert "-m pytest" in script and "sphinx -W" in script
    # no history or machine-specific numbers: those live in CHANGELOG.md and the docs
    assert not re.search(r"load average|2-core|heterogeneity_v\d", readme)
    assert (ROOT / "CITATION.cff").is_file() and (ROOT / "CHANGELOG.md").is_file()


def test_benchmark_results_are_json_with_provenance():
    results = sorted((ROOT / "benchmarks" / "results").glob("*.json"))
    assert results, "benchmarks/results holds no result"
    for path in results:
        data = json.loads(path.read_text())
        assert "benchmark" in data or "results" in data, path.name
