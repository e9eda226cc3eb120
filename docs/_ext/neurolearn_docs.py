"""Pages of the neurolearn documentation generated from the code and from data, written at
the start of every build (``builder-inited``), before Sphinx reads the sources:

* ``api/``: one page per public module (every module with a non-empty ``__all__``), listing
  the names of its ``__all__`` through ``autosummary`` (stub pages in ``api/generated``);
  names re-exported from another public module link to the module that defines them;
* ``_generated/*.md``: tables derived from the registries and schemas (training-config keys
  from ``CONFIG_SCHEMA``, the backend table, the dataset registry, surrogates, readout
  reductions, reproductions, the fit config keys);
* ``results/generated/<name>.md``: one page per folder of ``results/data/`` (a reproduction's
  JSON records, figures and ``provenance.json``);
* ``_generated/benchmarks.md``: the latest result of every benchmark in
  ``benchmarks/results/*.json``;
* ``_generated/gallery.md``: every figure of ``gallery/data/manifest.json`` and of the
  results records, with the command that made it.

A file is rewritten only when its text changes, so that Sphinx re-reads only what changed.
"""

from __future__ import annotations

import importlib
import json
import math
import pkgutil
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1]
ROOT = DOCS.parent
GENERATED = DOCS / "_generated"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:
        path.write_text(text, encoding="utf-8")


# --------------------------------------------------------------------------------------------
# API reference


def public_modules() -> dict[str, object]:
    """Every importable module of neurolearn with a non-empty ``__all__`` (no part of its
    name starting with an underscore), by name."""
    import neurolearn

    names = ["neurolearn"] + [
        m.name for m in pkgutil.walk_packages(neurolearn.__path__, "neurolearn.")
    ]
    found = {}
    for name in sorted(names):
        if any(part.startswith("_") for part in name.split(".")):
            continue
        module = importlib.import_module(name)
        if getattr(module, "__all__", None):
            found[name] = module
    return found


def home_module(name: str, obj, module_name: str, modules: dict) -> str:
    """The public module that documents ``obj`` (listed as ``name`` in ``module_name``'s
    ``__all__``): where it is defined if that module lists it, else the deepest other public
    module listing the same object; ``module_name`` itself if none."""
    defined = getattr(obj, "__module__", None)
    if (
        defined in modules
        and defined != module_name
        and name in modules[defined].__all__
        and getattr(modules[defined], name, None) is obj
    ):
        return defined
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return module_name  # equal constants are not the same object in any useful sense
    deeper = [
        m
        for m, mod in modules.items()
        if m != module_name
        and m.startswith(module_name + ".")
        and name in mod.__all__
        and getattr(mod, name, None) is obj
    ]
    return max(deeper, key=len) if deeper else module_name


def _summary(fullname: str) -> str:
    """The first sentence of the docstring of ``module.name``, or its module."""
    module, name = fullname.rsplit(".", 1)
    obj = getattr(importlib.import_module(module), name)
    doc = obj.__doc__ if callable(obj) or isinstance(obj, type) else None
    first = (doc or "").strip().split("\n\n")[0].replace("\n", " ")
    first = first.split(". ")[0].rstrip(".")
    return (first[:1].lower() + first[1:]) if first else f"from :mod:`{module}`"


def write_api(api: Path | None = None, generated: Path | None = None) -> dict[str, list[str]]:
    """Write ``api/index.rst`` and one page per public module (into ``api``, default
    ``docs/api``). Returns, per module, the names its page documents or links to (for the
    test that every public name appears)."""
    api = DOCS / "api" if api is None else Path(api)
    generated = GENERATED if generated is None else Path(generated)
    modules = public_modules()
    listed: dict[str, list[str]] = {}
    for name, module in modules.items():
        own, linked = [], []
        for item in module.__all__:
            if item == "__version__":
                own.append(item)
                continue
            obj = getattr(module, item)
            home = home_module(item, obj, name, modules)
            (own if home == name else linked).append(item if home == name else f"{home}.{item}")
        listed[name] = [*own, *(x.rsplit(".", 1)[1] for x in linked)]
        lines = [
            f"``{name}``",
            "=" * (len(name) + 4),
            "",
            f".. automodule:: {name}",
            "   :no-members:",
            "",
            f".. currentmodule:: {name}",
            "",
        ]
        own_documented = [x for x in own if x != "__version__"]
        if own_documented:
            lines += [
                ".. rubric:: Defined here",
                "",
                ".. autosummary::",
                "   :toctree: generated",
                "   :nosignatures:",
                "",
                *(f"   {x}" for x in own_documented),
                "",
            ]
        if "__version__" in own:
            lines += [f"``__version__``: the version of neurolearn (``{module.__version__}``).", ""]
        if linked:
            lines += [
                ".. rubric:: Also available here (documented where they are defined)",
                "",
                *(f"* :py:obj:`{x.rsplit('.', 1)[1]} <{x}>` ({_summary(x)})" for x in linked),
                "",
            ]
        _write(api / f"{name}.rst", "\n".join(lines))
    index = [
        "API reference",
        "=============",
        "",
        "Every public module of neurolearn, with every name of its ``__all__``. The pages are",
        "generated from the code at every build: signatures and docstrings are the code's own.",
        "A package page also lists the names it re-exports, each linked to the module that",
        "defines it.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *(f"   {name}" for name in modules),
        "",
    ]
    _write(api / "index.rst", "\n".join(index))
    _write(generated / "api_names.json", json.dumps(listed, indent=1, sort_keys=True))
    # stub pages of names that are no longer public
    stubs = api / "generated"
    if stubs.is_dir():
        wanted = {
            f"{mod}.{x}.rst" for mod, names in listed.items() for x in names if x != "__version__"
        }
        for page in stubs.glob("*.rst"):
            if page.name not in wanted:
                page.unlink()
    return listed


# --------------------------------------------------------------------------------------------
# Tables from registries and schemas


def _cell(text) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"


def write_tables(generated: Path | None = None) -> None:
    """Write the tables derived from the registries and schemas into ``generated`` (default
    ``docs/_generated``)."""
    generated = GENERATED if generated is None else Path(generated)
    from neurolearn.brian.backends import BACKEND_TABLE
    from neurolearn.commands.fit import FIT_CONFIG_KEYS
    from neurolearn.datasets import DATASETS
    from neurolearn.reproductions.registry import reproductions
    from neurolearn.torch import PEREZ_NIEVES_CONFIGS, READOUT_REDUCTIONS, SURROGATES
    from neurolearn.training import CONFIG_SCHEMA, describe_key

    text = []
    for section, keys in CONFIG_SCHEMA.items():
        text.append(f"### `[{section}]`\n")
        rows = []
        for name, key in keys.items():
            rows.append([f"`{name}`", key.kind, describe_key(section, name)])
        text.append(_table(["key", "type", "meaning (type, allowed values, default)"], rows))
    _write(generated / "config_schema.md", "\n".join(text))

    rows = []
    for info in BACKEND_TABLE.values():
        rows.append(
            [
                f"`{info.name}`",
                info.mode,
                info.description,
                ", ".join(info.needs_to_build) or "-",
                ", ".join(info.needs_to_run) or "-",
            ]
        )
    _write(
        generated / "backends.md",
        _table(["backend", "mode", "description", "needs to build", "needs to run"], rows),
    )

    rows = [
        [
            f"`{d.name}`",
            d.summary,
            d.n_classes,
            "depends on options" if d.n_channels is None else d.n_channels,
            ", ".join(d.splits),
            f"{d.duration_ms:g}",
        ]
        for d in DATASETS.values()
    ]
    _write(
        generated / "datasets.md",
        _table(["name", "data", "classes", "channels", "splits", "default duration (ms)"], rows),
    )

    rows = []
    for name, shape in SURROGATES.items():
        cls = shape if isinstance(shape, type) else type(shape)
        doc = (cls.__doc__ or "").strip().split("\n\n")[0].replace("\n", " ")
        rows.append([f"`{name}`", doc, getattr(shape, "source", "")])
    _write(generated / "surrogates.md", _table(["name", "shape", "source"], rows))

    rows = [
        [f"`{n}`", (getattr(f, "__doc__", "") or "").strip().split("\n")[0]]
        for n, f in READOUT_REDUCTIONS.items()
    ]
    _write(generated / "readout_reductions.md", _table(["name", "reduction"], rows))

    rows = [[f"`{n}`", _describe_config(c)] for n, c in PEREZ_NIEVES_CONFIGS.items()]
    _write(generated / "perez_nieves.md", _table(["configuration", "meaning"], rows))

    rows = [
        [
            f"`{r.name}`",
            r.description,
            r.reference,
            f"{{doc}}`results </results/generated/{r.name}>`",
        ]
        if (DOCS / "results" / "data" / r.name).is_dir()
        else [f"`{r.name}`", r.description, r.reference, "-"]
        for r in reproductions().values()
    ]
    _write(
        generated / "reproductions.md",
        _table(["name", "what it reproduces", "reference", "results page"], rows),
    )
    _write(generated / "fit_config.md", "```toml\n" + FIT_CONFIG_KEYS + "```\n")

    from neurolearn.spec import ROLE_FIELDS, list_models

    rows = [[kind, ", ".join(f"`{f}`" for f in fields)] for kind, fields in ROLE_FIELDS.items()]
    _write(generated / "roles.md", _table(["kind of model", "fields of `[roles]`"], rows))
    rows = [[f"`{s.name}`", s.kind, s.title, s.reference or "-"] for s in list_models(None)]
    _write(generated / "zoo.md", _table(["name", "kind", "title", "source"], rows))


def _describe_config(config) -> str:
    fields = getattr(config, "__dataclass_fields__", None)
    if fields is None:
        return str(config)
    return ", ".join(f"{k} = {getattr(config, k)!r}" for k in fields)


# --------------------------------------------------------------------------------------------
# Results pages from JSON records


def _number(v) -> str:
    if isinstance(v, bool) or v is None:
        return "-" if v is None else str(v).lower()
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if not math.isfinite(v):
            return str(v)
        if v == 0:
            return "0"
        if abs(v) >= 1e5 or abs(v) < 1e-3:
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def _scalar(v) -> bool:
    return v is None or isinstance(v, (str, int, float, bool))


def _short(v, limit: int = 8) -> str | None:
    """A scalar or a short list of scalars as text; None for anything longer or nested, and
    for text of several lines (a Markdown table kept in the JSON: the page's note shows it)."""
    if isinstance(v, str) and "\n" in v:
        return None
    if _scalar(v):
        return _number(v)
    if isinstance(v, list) and len(v) <= limit and all(_scalar(x) for x in v):
        return ", ".join(_number(x) for x in v)
    return None


def render_record(data, level: int = 3, path: str = "") -> list[str]:
    """A JSON record as Markdown: scalars of a mapping in one two-column table, a mapping of
    mappings as one table (a row per key), lists of records as a table; long series are
    named (they are in the JSON file) rather than printed."""
    out: list[str] = []
    if isinstance(data, dict):
        scalars = {k: _short(v) for k, v in data.items() if _short(v) is not None}
        if scalars:
            out.append(_table(["quantity", "value"], [[f"`{k}`", v] for k, v in scalars.items()]))
        series = [
            k
            for k, v in data.items()
            if isinstance(v, list) and _short(v) is None and all(_scalar(x) for x in v)
        ]
        if series:
            out.append(
                "Series in the JSON file: "
                + ", ".join(f"`{k}` ({len(data[k])} values)" for k in series)
                + ".\n"
            )
        nested = {
            k: v
            for k, v in data.items()
            if isinstance(v, (dict, list)) and _short(v) is None and k not in series
        }
        # a mapping whose values are all mappings of scalars: one table, a row per key
        rows_of = {
            k: v
            for k, v in nested.items()
            if isinstance(v, dict) and v and all(isinstance(x, dict) for x in v.values())
        }
        for k, v in nested.items():
            title = f"{path}.{k}" if path else k
            if k in rows_of and all(
                sum(_short(y) is not None for y in x.values()) > 0 for x in v.values()
            ):
                columns: list[str] = []
                for x in v.values():
                    for kk, vv in x.items():
                        if _short(vv, 4) is not None and kk not in columns:
                            columns.append(kk)
                columns = columns[:9]
                out.append(f"{'#' * level} `{title}`\n")
                out.append(
                    _table(
                        ["", *(f"`{c}`" for c in columns)],
                        [
                            [f"`{r}`", *(_short(x.get(c), 4) or "" for c in columns)]
                            for r, x in v.items()
                        ],
                    )
                )
                deeper = {
                    r: {kk: vv for kk, vv in x.items() if isinstance(vv, dict)}
                    for r, x in v.items()
                }
                for r, d in deeper.items():
                    for kk, vv in d.items():
                        out.append(f"{'#' * min(level + 1, 6)} `{title}.{r}.{kk}`\n")
                        out += render_record(vv, min(level + 2, 6), f"{title}.{r}.{kk}")
            elif isinstance(v, list) and v and all(isinstance(x, dict) for x in v):
                columns = []
                for x in v:
                    for kk, vv in x.items():
                        if _short(vv, 4) is not None and kk not in columns:
                            columns.append(kk)
                out.append(f"{'#' * level} `{title}`\n")
                out.append(
                    _table(
                        [f"`{c}`" for c in columns[:9]],
                        [[_short(x.get(c), 4) or "" for c in columns[:9]] for x in v[:40]],
                    )
                )
                if len(v) > 40:
                    out.append(f"({len(v) - 40} more rows in the JSON file.)\n")
            elif isinstance(v, dict):
                out.append(f"{'#' * level} `{title}`\n")
                out += render_record(v, min(level + 1, 6), title)
            else:
                out.append(f"`{title}`: {len(v)} entries in the JSON file.\n")
    elif isinstance(data, list):
        out += render_record({"values": data}, level, path)
    return out


def provenance_block(record: dict) -> str:
    versions = ", ".join(f"{k} {v}" for k, v in record.get("versions", {}).items())
    machine = record.get("machine", {})
    load = machine.get("load_average")
    lines = [
        f"- **Command**: `{record.get('command', '?')}`",
        f"- **Date**: {record.get('date', '?')}",
        f"- **Code**: git revision `{record.get('git_revision') or 'unknown'}`",
        f"- **Versions**: {versions}",
        f"- **Machine**: {machine.get('cpu') or machine.get('processor', '?')}, "
        f"{machine.get('cpus_usable', machine.get('cpus', '?'))} of "
        f"{machine.get('cpus', '?')} CPUs usable"
        + (f", load average {', '.join(str(x) for x in load)} at the end" if load else ""),
    ]
    return "\n".join(lines) + "\n"


def figures_of(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.png"))


def write_results() -> list[dict]:
    """Write one page per folder of ``results/data``; returns the gallery entries."""
    from neurolearn.reproductions.registry import reproductions

    known = reproductions()
    data_root = DOCS / "results" / "data"
    pages = DOCS / "results" / "generated"
    gallery = []
    wanted = set()
    for folder in (
        sorted(p for p in data_root.iterdir() if p.is_dir()) if data_root.is_dir() else []
    ):
        name = folder.name
        wanted.add(f"{name}.md")
        prov_file = folder / "provenance.json"
        record = json.loads(prov_file.read_text()) if prov_file.is_file() else {}
        repro = known.get(record.get("reproduction", name))
        title = f"{name}: {repro.description}" if repro else name
        lines = [f"# {title}\n"]
        if repro is not None:
            lines.append(f"Reproduces {repro.reference}.\n")
        if (folder / "note.md").is_file():
            lines.append(f"```{{include}} ../data/{name}/note.md\n```\n")
        lines.append("## How these numbers were made\n")
        lines.append(provenance_block(record) if record else "No provenance record.\n")
        lines.append(
            "The files this page is generated from, in `docs/results/data/"
            f"{name}/`: "
            + ", ".join(
                f"{{download}}`{p.name} </results/data/{name}/{p.name}>`"
                for p in sorted(folder.glob("*.json"))
            )
            + ".\n"
        )
        for fig in figures_of(folder):
            lines.append(
                f"```{{figure}} /results/data/{name}/{fig.relative_to(folder).as_posix()}\n:width: 90%\n\n`{fig.relative_to(folder).as_posix()}`\n```\n"
            )
            gallery.append(
                {
                    "figure": f"/results/data/{name}/{fig.relative_to(folder).as_posix()}",
                    "command": record.get("command", f"neurolearn reproduce {name}"),
                    "title": f"{name}: {fig.stem}",
                    "page": f"/results/generated/{name}",
                }
            )
        for js in sorted(folder.glob("*.json")):
            if js.name == "provenance.json":
                continue
            lines.append(f"## `{js.name}`\n")
            lines += render_record(json.loads(js.read_text()))
        _write(pages / f"{name}.md", "\n".join(lines))
    if pages.is_dir():
        for page in pages.glob("*.md"):
            if page.name not in wanted:
                page.unlink()
    return gallery


# --------------------------------------------------------------------------------------------
# Benchmarks page


def write_benchmarks() -> None:
    folder = ROOT / "benchmarks" / "results"
    records = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        data = json.loads(path.read_text())
        records.append((path, data))
    latest: dict[str, tuple[Path, dict]] = {}
    for path, data in records:
        name = data.get("benchmark", path.stem)
        date = (data.get("provenance") or {}).get("date") or data.get("date") or ""
        if name not in latest or date >= (
            (latest[name][1].get("provenance") or {}).get("date")
            or latest[name][1].get("date")
            or ""
        ):
            latest[name] = (path, data)
    lines = []
    for name, (path, data) in sorted(latest.items()):
        lines.append(f"## `{name}` (latest: `{path.name}`)\n")
        prov = data.get("provenance") or {
            k: data[k]
            for k in ("command", "date", "git_revision", "versions", "machine")
            if k in data
        }
        if prov:
            lines.append(provenance_block(prov))
        if "args" in data:
            lines.append(
                "Options: " + ", ".join(f"`{k}={v}`" for k, v in data["args"].items()) + "\n"
            )
        if "network" in data:
            lines.append(
                "Network: " + ", ".join(f"{k} {v}" for k, v in data["network"].items()) + "\n"
            )
        results = data.get("results", {})
        lines += render_record(results, 3)
        others = [p.name for p, d in records if d.get("benchmark", p.stem) == name and p != path]
        if others:
            lines.append("Earlier results: " + ", ".join(f"`{o}`" for o in others) + ".\n")
    if not lines:
        lines = ["No benchmark results yet (`benchmarks/results/*.json`).\n"]
    _write(GENERATED / "benchmarks.md", "\n".join(lines))


# --------------------------------------------------------------------------------------------
# Gallery


def write_gallery(result_figures: list[dict]) -> None:
    manifest = DOCS / "gallery" / "data" / "manifest.json"
    entries = json.loads(manifest.read_text()) if manifest.is_file() else []
    lines = ["## Command line\n"]
    for e in entries:
        lines.append(f"### {e['title']}\n")
        lines.append(f"```bash\n{e['command']}\n```\n")
        lines.append(f"```{{image}} /gallery/data/{e['figure']}\n:width: 85%\n```\n")
    lines.append("## Reproductions\n")
    for e in result_figures:
        lines.append(f"### {e['title']}\n")
        lines.append(f"```bash\n{e['command']}\n```\n")
        lines.append(f"```{{image}} {e['figure']}\n:width: 85%\n```\n")
        lines.append(f"More: {{doc}}`the results page <{e['page']}>`.\n")
    _write(GENERATED / "gallery.md", "\n".join(lines))


def generate(app=None) -> None:
    """Write every generated page (the ``builder-inited`` handler)."""
    GENERATED.mkdir(exist_ok=True)
    write_api()
    write_tables()
    figures = write_results()
    write_benchmarks()
    write_gallery(figures)


def setup(app):
    # before Sphinx discovers the source files and autosummary reads the API pages
    app.connect("config-inited", lambda app, config: generate())
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}


__all__ = ["generate", "public_modules", "render_record", "write_api"]
