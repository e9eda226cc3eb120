"""PyTorch printer of the model IR (:class:`neurolearn.codegen.ModelIR`).

Prints the IR's expressions as Python source over ``torch`` in two forms:

* the **allocating** form -- ``_static(P, dt, tol)`` (the coefficients, with their removable
  singularities guarded by ``torch.where``), ``_update(S, C, t)``, ``_threshold(S, P)``,
  ``_reset<i>(S, P)``, ``_initial(P)`` -- each expression as one nested PyTorch expression;
* the **in-place** form of the per-step functions -- ``_inplace(S, C, t, out, tmp)`` and
  ``_inplace(S, P, out, tmp)`` -- which performs the *same* floating-point operations in the
  same order, each written with ``out=`` into a preallocated tensor (``out`` or one of the
  scratch tensors ``tmp``), so that its results are bit-identical and a time loop allocates
  nothing per step. Sub-expressions that do not depend on the state (coefficients,
  constants) are evaluated as in the allocating form; operands are swapped only for ``+``
  and ``*`` with a constant on the left (exact in floating point); any other construct of a
  state-dependent value is evaluated as in the allocating form and copied into its buffer
  (still exact).

Both forms come from one walk of the sympy expressions; the order of the operations is the
one Python evaluates the allocating form in (sums and products left to right, as
:func:`neurolearn.codegen.vocabulary.split_fraction` orders them). Generating source code
from a symbolic model follows Brian2's code generation (Stimberg, Brette & Goodman 2019,
eLife 8:e47314); another engine would be another printer of the same IR.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import sympy

from ..codegen import ModelIR, Plain, split_fraction
from ..codegen.vocabulary import UNARY_FUNCTIONS
from ..spec import ModelError

__all__ = [
    "TORCH_FUNCTIONS",
    "TorchPrinter",
    "static_source",
    "update_source",
    "threshold_source",
    "reset_sources",
    "initial_source",
    "inplace_update_source",
    "inplace_threshold_source",
    "affine_source",
]

_TORCH_NAMES = {"Abs": "abs", "ceiling": "ceil"}

#: PyTorch function of each unary function of the IR's vocabulary.
TORCH_FUNCTIONS = {f: "torch." + _TORCH_NAMES.get(f, f) for f in UNARY_FUNCTIONS}


# ---------------------------------------------------------------------------------------------
# names
# ---------------------------------------------------------------------------------------------
def _update_name(n: str) -> str:
    if n.startswith("C__"):
        return f"C[{n[3:]!r}]"
    if n.startswith("P__"):
        return f"C[{('P_' + n[3:])!r}]"
    if n == "t":
        return "t"
    if n.startswith("_x"):
        return n
    return f"S[{n!r}]"


def _static_name(n: str) -> str:
    if n == "dt":
        return "dt"
    if n.startswith("_"):
        return n
    return f"P[{n!r}]"


def _state_param_name(states) -> Callable[[str], str]:
    def name(n: str) -> str:
        if n in states:
            return f"S[{n!r}]"
        if n == "t":
            return "t"
        return f"P[{n!r}]"

    return name


# ---------------------------------------------------------------------------------------------
# allocating form
# ---------------------------------------------------------------------------------------------
class TorchPrinter:
    """sympy -> one PyTorch expression (every symbol is looked up in ``names``).

    Parameters
    ----------
    names : callable str -> str
        Source of a symbol, e.g. ``v -> S['v']``.
    where : str
        The equation or statement printed, for error messages.
    """

    def __init__(self, names: Callable[[str], str], where: str):
        self.names = names
        self.where = where

    def __call__(self, e) -> str:
        """Source of ``e``.

        Raises
        ------
        ModelError
            For a construct outside the IR's vocabulary (the IR's prepare step has already
            refused those, with the same message).
        """
        if e.is_Symbol:
            return self.names(e.name)
        if e.is_number:
            value = complex(e)
            if value.imag != 0:
                raise ModelError(f"complex constant {e} in {self.where}")
            return repr(float(value.real))
        if e.is_Add:
            return "(" + " + ".join(self(a) for a in e.args) + ")"
        if e.is_Mul:
            num, den = split_fraction(e)
            out = "*".join(self(a) for a in num) if num else "1.0"
            if den:
                out += "/(" + "*".join(self(d) for d in den) + ")"
            return "(" + out + ")"
        if e.is_Pow:
            if e.exp == sympy.Rational(1, 2):
                return f"torch.sqrt({self(e.base)})"
            if e.exp.is_Integer:
                return f"({self(e.base)})**{int(e.exp)}"
            return f"torch.pow({self(e.base)}, {self(e.exp)})"
        if isinstance(e, sympy.Function):
            name = type(e).__name__
            if name in TORCH_FUNCTIONS and len(e.args) == 1:
                return f"{TORCH_FUNCTIONS[name]}({self(e.args[0])})"
            raise ModelError(
                f"function '{name}' has no PyTorch equivalent in the torch bridge ({self.where})",
                parameter=name,
            )
        raise ModelError(
            f"construct '{e}' ({type(e).__name__}) is not supported by the "
            f"torch bridge ({self.where})"
        )


def static_source(ir: ModelIR) -> str:
    """``def _static(P, dt, tol)`` returning the dict ``C`` of coefficients: ``C['P_<name>']``
    for every parameter and external variable, ``C['P_dt']``, and ``C['c<k>']`` for each
    coefficient, its singularity guards
    (:class:`~neurolearn.codegen.SingularGuard`) evaluated with ``torch.where``."""
    lines = ["def _static(P, dt, tol):", "    C = {'P_dt': dt}"]
    for n in ir.params + ir.externals:
        lines.append(f"    C['P_{n}'] = P[{n!r}]")
    pr = TorchPrinter(_static_name, f"model '{ir.name}'")
    indent = "    "

    def emit(node) -> str:
        out = f"_v{node.index}"
        if isinstance(node, Plain):
            lines.append(f"{indent}{out} = {pr(node.expr)}")
            return out
        k = node.index
        lines.append(f"{indent}_d{k} = {pr(node.difference)}")
        lines.append(f"{indent}_small{k} = torch.abs(_d{k}) < tol*({pr(node.scale)})")
        lines.append(f"{indent}_tol_scale{k} = tol*({pr(node.scale)})")
        lines.append(
            f"{indent}_safe{k} = torch.where(_small{k}, {pr(node.safe)}, {pr(node.variable)})"
        )
        e_name = emit(node.exact)
        s_name = emit(node.series)
        lines.append(f"{indent}{out} = torch.where(_small{k}, {s_name}, {e_name})")
        return out

    for c in ir.coefficients:
        name = emit(c.program)
        lines.append(f"    C[{c.name!r}] = {name}")
    lines.append("    return C")
    return "\n".join(lines)


def update_source(ir: ModelIR) -> str:
    """``def _update(S, C, t)`` returning the dict of new state values (common
    sub-expressions first; ``S[v]`` for a variable the update leaves unchanged)."""
    pr = TorchPrinter(_update_name, f"model '{ir.name}'")
    lines = ["def _update(S, C, t):"]
    for sym, e in ir.cse:
        lines.append(f"    {sym.name} = {pr(e)}")
    items = []
    for v in ir.states:
        e = ir.reduced[v]
        items.append(f"{v!r}: S[{v!r}]" if e is None else f"{v!r}: {pr(e)}")
    lines.append("    return {" + ", ".join(items) + "}")
    return "\n".join(lines)


def threshold_source(ir: ModelIR) -> str:
    """``def _threshold(S, P)`` returning the signed distance to threshold (``None`` for a
    model without a threshold)."""
    if ir.threshold is None:
        return "def _threshold(S, P):\n    return None"
    pr = TorchPrinter(_state_param_name(ir.states), "threshold")
    return "def _threshold(S, P):\n    return " + pr(ir.threshold.distance)


def reset_sources(ir: ModelIR) -> list:
    """``def _reset<i>(S, P)`` returning the value reset statement ``i`` assigns."""
    out = []
    for i, r in enumerate(ir.resets):
        pr = TorchPrinter(_state_param_name(ir.states), f"reset statement '{r.statement}'")
        out.append(f"def _reset{i}(S, P):\n    return " + pr(r.value))
    return out


def initial_source(ir: ModelIR) -> str:
    """``def _initial(P)`` returning the dict of initial values (``0.0`` where absent)."""
    items = []
    for var in ir.states:
        e = ir.initial[var]
        if e is None:
            items.append(f"{var!r}: 0.0")
        else:
            pr = TorchPrinter(_state_param_name(ir.states), f"initial value of '{var}'")
            items.append(f"{var!r}: " + pr(e))
    return "def _initial(P):\n    return {" + ", ".join(items) + "}"


def affine_source(ir: ModelIR) -> str | None:
    """Functions of the affine form (None when the update is not affine):
    ``_affine_matrices(C) -> ([A_ij for A_idx], [b_i])``, ``_threshold_form(P) -> ([(j,
    c_j)], x0)`` or None, ``_reset_constants(P) -> [value of each reset]`` or None. Plain
    numbers are returned as Python floats."""
    aff = ir.affine
    if aff is None:
        return None
    pu = TorchPrinter(_update_name, f"model '{ir.name}'")
    pp = TorchPrinter(_state_param_name(ir.states), f"model '{ir.name}'")
    lines = [
        "def _affine_matrices(C):",
        "    return ["
        + ", ".join(pu(a) for a in aff.A)
        + "], ["
        + ", ".join(pu(b) for b in aff.b)
        + "]",
        "def _threshold_form(P):",
    ]
    thr = ir.threshold.affine if ir.threshold is not None else None
    if thr is None:
        lines.append("    return None")
    else:
        c = ", ".join(f"({j}, {pp(cj)})" for j, cj in thr.c)
        lines.append(f"    return [{c}], {pp(thr.x0)}")
    lines.append("def _reset_constants(P):")
    if any(r.constant is None for r in ir.resets):
        lines.append("    return None")
    else:
        lines.append("    return [" + ", ".join(pp(r.constant) for r in ir.resets) + "]")
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# in-place form
# ---------------------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class _Leaf:  # a name or subscript: S['v'], C['c0'], t, _x0
    text: str
    dep: bool


@dataclasses.dataclass(frozen=True)
class _Const:  # a number (repr of a float; negative ones read as -(x))
    text: str


@dataclasses.dataclass(frozen=True)
class _Bin:  # left <op> right
    op: str
    left: object
    right: object


@dataclasses.dataclass(frozen=True)
class _Call:  # torch.f(args)
    func: str
    args: tuple


_OUT_OPS = {
    "+": "torch.add",
    "-": "torch.sub",
    "*": "torch.mul",
    "/": "torch.div",
    "**": "torch.pow",
}


def _fold(op, items):
    out = items[0]
    for a in items[1:]:
        out = _Bin(op, out, a)
    return out


def _tree(e, names, dep):
    """The operations of :class:`TorchPrinter`'s source of ``e``, as Python evaluates them
    (binary operations left-associated); ``e`` is in the IR's vocabulary."""
    if e.is_Symbol:
        return _Leaf(names(e.name), dep(e.name))
    if e.is_number:
        return _Const(repr(float(complex(e).real)))
    if e.is_Add:
        return _fold("+", [_tree(a, names, dep) for a in e.args])
    if e.is_Mul:
        num, den = split_fraction(e)
        top = _fold("*", [_tree(a, names, dep) for a in num]) if num else _Const("1.0")
        if den:
            top = _Bin("/", top, _fold("*", [_tree(d, names, dep) for d in den]))
        return top
    if e.is_Pow:
        if e.exp == sympy.Rational(1, 2):
            return _Call("torch.sqrt", (_tree(e.base, names, dep),))
        if e.exp.is_Integer:
            return _Bin("**", _tree(e.base, names, dep), _Const(str(int(e.exp))))
        return _Call("torch.pow", (_tree(e.base, names, dep), _tree(e.exp, names, dep)))
    return _Call(TORCH_FUNCTIONS[type(e).__name__], (_tree(e.args[0], names, dep),))


def _text(node) -> str:
    if isinstance(node, (_Leaf, _Const)):
        return node.text
    if isinstance(node, _Bin):
        return f"(({_text(node.left)}) {node.op} ({_text(node.right)}))"
    return f"{node.func}({', '.join(_text(a) for a in node.args)})"


def _is_const(node) -> bool:
    if isinstance(node, _Const):
        return True
    if isinstance(node, _Bin):
        return _is_const(node.left) and _is_const(node.right)
    return False


def _depends(node) -> bool:
    if isinstance(node, _Leaf):
        return node.dep
    if isinstance(node, _Bin):
        return _depends(node.left) or _depends(node.right)
    if isinstance(node, _Call):
        return any(_depends(a) for a in node.args)
    return False


class _InPlace:
    """Writes operations ``op(a, b, out=dest)`` with scratch tensors ``tmp[k]`` taken from and
    returned to a free list (a buffer is reused once the operation reading it is written)."""

    def __init__(self):
        self.n_tmp = 0
        self.free: list = []
        self.lines: list = []

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        self.n_tmp += 1
        return f"tmp[{self.n_tmp - 1}]"

    def value(self, node) -> tuple:
        """Source of ``node``'s value and the scratch buffer holding it (or None)."""
        if not _depends(node) or isinstance(node, _Leaf):
            return _text(node), None
        buf = self.take()
        self.into(node, buf)
        return buf, buf

    def into(self, node, dest: str) -> None:
        """Operations writing ``node``'s value into ``dest``."""
        if isinstance(node, _Bin):
            left, right = node.left, node.right
            if _is_const(left) and node.op in ("+", "*"):
                left, right = right, left
            if not _is_const(left):
                lv, lb = self.value(left)
                rv, rb = self.value(right)
                self.lines.append(f"{_OUT_OPS[node.op]}({lv}, {rv}, out={dest})")
                self.free.extend(b for b in (rb, lb) if b is not None)
                return
        elif isinstance(node, _Call) and not any(_is_const(a) for a in node.args):
            vals = [self.value(a) for a in node.args]
            self.lines.append(f"{node.func}({', '.join(v for v, _ in vals)}, out={dest})")
            self.free.extend(b for _, b in reversed(vals) if b is not None)
            return
        self.lines.append(f"{dest}.copy_({_text(node)})")


def inplace_update_source(ir: ModelIR) -> tuple[str, int]:
    """``def _inplace(S, C, t, out, tmp)``: the update of :func:`update_source` writing the
    new value of every state variable into ``out[name]``.

    Returns
    -------
    (source, n_tmp)
        ``n_tmp``: number of scratch tensors ``tmp`` the function uses.
    """
    w = _InPlace()
    dep: set = set()

    def is_dep(n: str) -> bool:
        return _update_name(n).startswith("S[") or n in dep

    body: list = []
    for sym, e in ir.cse:
        node = _tree(e, _update_name, is_dep)
        if _depends(node):
            w.lines = []
            buf = w.take()
            w.into(node, buf)
            body += w.lines + [f"{sym.name} = {buf}"]
            dep.add(sym.name)
        else:
            body.append(f"{sym.name} = {_text(node)}")
    w.lines = body
    for v in ir.states:
        e = ir.reduced[v]
        node = _Leaf(f"S[{v!r}]", True) if e is None else _tree(e, _update_name, is_dep)
        w.into(node, f"out[{v!r}]")
    head = "def _inplace(S, C, t, out, tmp):"
    return "\n".join([head] + ["    " + line for line in w.lines] + ["    return out"]), w.n_tmp


def inplace_threshold_source(ir: ModelIR) -> tuple[str, int] | None:
    """``def _inplace(S, P, out, tmp)``: the threshold of :func:`threshold_source` writing the
    signed distance into ``out``; None for a model without a threshold.

    Returns
    -------
    (source, n_tmp) or None
    """
    if ir.threshold is None:
        return None
    w = _InPlace()
    names = _state_param_name(ir.states)
    w.into(_tree(ir.threshold.distance, names, lambda n: n in ir.states), "out")
    head = "def _inplace(S, P, out, tmp):"
    return "\n".join([head] + ["    " + line for line in w.lines] + ["    return out"]), w.n_tmp
