"""``neurolearn models [NAME]``: the model zoo. Without a name, one line per model; with a
name (or a model file), the model itself: its equations, threshold, reset and refractoriness,
every parameter with its unit, valid range and meaning, the initial values, its roles and the
paper its equations come from."""

from __future__ import annotations

import json
import re

__all__ = ["register", "describe_model"]

# the fields of a model file printed as code, in file order, for every kind of model
_CODE_FIELDS = (
    "equations",
    "threshold",
    "reset",
    "refractory",
    "on_pre",
    "on_post",
    "target",
    "post_equations",
    "generator",
)


def describe_model(spec) -> str:
    """A model as text for people: what ``neurolearn models NAME`` prints.

    Parameters
    ----------
    spec : neurolearn.ModelSpec
        A loaded model (zoo or file).

    Returns
    -------
    str
        Name, kind, title, source (the paper), file, state updater, the code fields
        (equations, threshold, reset...), a parameter table (value with unit, range,
        per-neuron flag, description), initial values, roles and presets.
    """
    data = spec.to_dict()
    lines = [f"{spec.name} ({spec.kind}): {spec.title}", f"source: {spec.reference or '-'}"]
    if spec.path is not None:
        lines.append(f"file: {spec.path}")
    if spec.kind != "input":
        lines.append(f"method: {spec.method}")
    for field in _CODE_FIELDS:
        text = getattr(spec, field, "")
        if not text or not isinstance(text, str):
            continue
        body = text.strip("\n").splitlines()
        if len(body) == 1 and field != "equations":
            lines.append(f"{field}: {body[0].strip()}")
        else:
            lines.append(f"{field}:")
            lines.extend(f"  {line.strip()}" for line in body if line.strip())
    if spec.parameters:
        rows = [("parameter", "value", "range", "per neuron", "description")]
        for p in spec.parameters.values():
            low = "-inf" if p.low is None else _fmt(p.low)
            high = "inf" if p.high is None else _fmt(p.high)
            span = "" if p.low is None and p.high is None else f"[{low}, {high}]"
            rows.append((p.name, _fmt(p.value), span, "yes" if p.per_neuron else "", p.description))
        widths = [max(len(r[i]) for r in rows) for i in range(4)]
        lines.append("parameters:")
        for r in rows:
            cells = [r[i].ljust(widths[i]) for i in range(4)]
            lines.append("  " + "  ".join(cells) + "  " + r[4])
    if spec.initial:
        lines.append("initial:")
        lines.extend(f"  {k} = {v}" for k, v in spec.initial.items())
    roles = data.get("roles") or {}
    if roles:
        lines.append("roles:")
        for k, v in roles.items():
            lines.append(f"  {k} = {', '.join(v) if isinstance(v, (list, tuple)) else v}")
    if spec.presets:
        lines.append("presets: " + ", ".join(spec.presets))
    return "\n".join(lines)


def _fmt(value) -> str:
    """A quantity in its best unit without Brian2's trailing dot ("20 ms", not "20. ms")."""
    from ..spec.quantities import _fmt as brian_format

    return re.sub(r"(\d)\.(?=\s|$)", r"\1", brian_format(value))


def _run(args) -> int:
    from ..spec import list_models, load_model

    if args.name is not None:
        spec = load_model(args.name)
        if args.json:
            data = spec.to_dict()
            data["path"] = None if spec.path is None else str(spec.path)
            print(json.dumps(data, default=str))
        else:
            print(describe_model(spec))
        return 0
    specs = list_models(args.kind)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "name": s.name,
                        "kind": s.kind,
                        "title": s.title,
                        "reference": s.reference,
                        "path": str(s.path),
                    }
                    for s in specs
                ]
            )
        )
        return 0
    width = max(len(s.name) for s in specs)
    for s in specs:
        print(f"{s.name:<{width}}  {s.kind:<7}  {s.title}")
    return 0


def register(subparsers) -> None:
    """Add the ``models`` command."""
    p = subparsers.add_parser(
        "models",
        help="list the model zoo, or show one model (neurolearn models lif)",
        description="Without NAME: the model zoo, one line per model. With NAME (a zoo name "
        "or a model file): its equations, parameters with units and ranges, initial values, "
        "roles and source.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="zoo model name or model file")
    p.add_argument("--kind", choices=["neuron", "synapse", "input"], help="list only this kind")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)
