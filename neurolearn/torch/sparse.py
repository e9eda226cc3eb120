"""Products with spikes and sparse inputs: the kernels shared by the step-by-step path and the
fused loops, so that both compute the same bits.

* :func:`_spike_product` -- ``s @ W`` for 0/1 spikes ``s`` ``[R, n]``, as a sum of the rows of
  ``W`` of the neurons that spiked (``embedding_bag``) when few neurons spike, else a dense
  ``torch.mm``; the choice depends on ``s`` only (:func:`_sparse_spikes_wanted`).
* :class:`_SpikeMatmul` -- the same product as an autograd function that saves the spikes as
  uint8.
* :class:`_SparseInput` / :class:`_SparseDrive` -- a sparse input ``[T, B, C]`` in compressed
  sparse row form, its product with the input weights (the drive of every step, computed in
  one piece or per chunk of steps with the same bits) and the transposed product (gradient).

The fused loop and the step-by-step path look these names up in this module at call time
(``sparse._spike_product``), so that a test can wrap or replace them in one place.
"""

from __future__ import annotations

import torch

#: Internal to :mod:`neurolearn.torch` (no public names).
__all__: list = []

#: Products with 0/1 spikes (``sparse_spikes=None``) are computed sparsely when at most this
#: fraction of the entries is 1, on the CPU, and for products of at least
#: :data:`_SPARSE_SPIKE_MIN_WORK` multiply-adds (below, a dense matmul is cheaper than the
#: indexing). The recurrent layer of benchmarks/torch_step.py has 1-2 % of its neurons
#: spiking per step.
_SPARSE_SPIKE_DENSITY = 1.0 / 16
_SPARSE_SPIKE_MIN_WORK = 1 << 20
_INT_VIEW = {torch.float32: torch.int32, torch.float64: torch.int64}
_ROW_STARTS: dict = {}


def _bool_to(b: torch.Tensor, dtype) -> torch.Tensor:
    """Bool tensor as 0/1 of ``dtype``, converted through its uint8 view (several times
    faster than converting the bool tensor itself on the CPU)."""
    return b.view(torch.uint8).to(dtype)


def _nonzero_flat(s: torch.Tensor) -> torch.Tensor:
    """Linear indices (int64, increasing) of the non-zero entries of ``s`` (any shape).
    Floats are scanned as their bit pattern (as fast as a bool scan, about twice as fast as
    a float compare); spikes are exactly 0.0 or 1.0, never -0.0."""
    flat = s.reshape(-1)
    bits = _INT_VIEW.get(flat.dtype)
    return (flat.view(bits) if bits is not None else flat).nonzero().squeeze(1)


def _row_starts(R: int, n: int, device) -> torch.Tensor:
    """``arange(R) * n`` (cached): linear index of the first entry of each row."""
    key = (R, n, str(device))
    r = _ROW_STARTS.get(key)
    if r is None:
        if len(_ROW_STARTS) > 64:
            _ROW_STARTS.clear()
        r = _ROW_STARTS[key] = torch.arange(R, device=device) * n
    return r


def _rows_sum(lin: torch.Tensor, R: int, n: int, W: torch.Tensor) -> torch.Tensor:
    """``M @ W`` ``[R, m]`` for the 0/1 matrix ``M`` ``[R, n]`` whose ones are at the increasing
    linear indices ``lin``: for each row, the rows of ``W`` of its ones summed in increasing
    column order (``embedding_bag`` in sum mode: one sequential sum per output element, so
    the result does not depend on how the rows are blocked; deterministic on CPU and
    CUDA). Rounding differs from a dense matmul's."""
    cols = lin.remainder(n)
    offsets = torch.searchsorted(lin, _row_starts(R, n, lin.device))
    return torch.nn.functional.embedding_bag(cols, W, offsets, mode="sum")


def _sparse_spikes_wanted(mode, R: int, n: int, m: int, device) -> bool:
    """Whether a product of spikes ``[R, n]`` with ``[n, m]`` weights may be sparse:
    ``mode`` True/False forces it; None (automatic) only on the CPU (on a GPU the dense
    product is cheaper than finding the spikes, which also synchronises) and for at least
    :data:`_SPARSE_SPIKE_MIN_WORK` multiply-adds."""
    if mode is not None:
        return bool(mode)
    return torch.device(device).type == "cpu" and R * n * m >= _SPARSE_SPIKE_MIN_WORK


def _spike_product(s: torch.Tensor, W: torch.Tensor, mode=None, out=None):
    """``s @ W`` for spikes ``s`` ``[R, n]`` whose entries are exactly 0 or 1, and the linear
    indices of the spikes (None when the product was dense).

    Sparse (:func:`_rows_sum`) when :func:`_sparse_spikes_wanted` and, in automatic mode
    (``mode=None``), at most :data:`_SPARSE_SPIKE_DENSITY` of the entries are 1; otherwise
    ``torch.mm`` (into ``out`` if given). The decision depends on ``s`` only, so the fused
    loop and the step-by-step path, which both call this function, compute bit-identical
    products from the same spikes."""
    R, n = s.shape
    lin = _sparse_spike_indices(s, W.shape[1], mode)
    if lin is None:
        return torch.mm(s, W, out=out), None
    return _rows_sum(lin, R, n, W), lin


def _sparse_spike_indices(s: torch.Tensor, m: int, mode):
    """Linear indices (int64) of the spikes of ``s`` ``[R, n]`` (0/1 floats) when a product
    with ``[n, m]`` weights is to be sparse (:func:`_sparse_spikes_wanted` and, in automatic
    mode, at most :data:`_SPARSE_SPIKE_DENSITY` of the entries are 1), else None."""
    R, n = s.shape
    if not _sparse_spikes_wanted(mode, R, n, m, s.device):
        return None
    lin = _nonzero_flat(s)
    if mode is None and lin.numel() > _SPARSE_SPIKE_DENSITY * R * n:
        return None
    return lin


def _chunk_spikes(flat: torch.Tensor, lins, mode):
    """Linear indices (int64) of the spikes of a chunk ``flat`` ``[L*B, n]`` (0/1 floats):
    the concatenation of the per-step indices ``lins`` (already offset) when every step's
    product was sparse, else found in ``flat`` when sparse products are wanted and the
    chunk is sparse enough (:func:`_spike_product`'s rule); None otherwise."""
    if lins is not None:
        return torch.cat(lins) if lins else flat.new_empty(0, dtype=torch.int64)
    return _sparse_spike_indices(flat, flat.shape[1], mode)


class _SpikeMatmul(torch.autograd.Function):
    """``s @ W`` for 0/1 spikes (:func:`_spike_product`, sparse when few neurons spike),
    saving ``s`` as uint8 (4x less memory than float32)."""

    @staticmethod
    def forward(ctx, s, W, mode=None):
        ctx.save_for_backward(s.to(torch.uint8), W)
        return _spike_product(s, W, mode)[0]

    @staticmethod
    def backward(ctx, grad):
        s8, W = ctx.saved_tensors
        gs = grad @ W.t() if ctx.needs_input_grad[0] else None
        gW = s8.to(grad.dtype).t() @ grad if ctx.needs_input_grad[1] else None
        return gs, gW, None


class _SparseInput:
    """Sparse input ``x`` ``[T, B, C]`` as the ``[T*B, C]`` matrix in compressed sparse row
    form (one ``nonzero`` over the whole input): int32 row pointers and column indices and
    the values (None when all are 1, as for spikes), about 4 bytes per non-zero entry.
    :meth:`rows_sum` multiplies a block of rows with weights (``embedding_bag`` on exactly
    this row pointer / column index layout: about twice as fast as MKL's CSR product
    here, and row by row, so the fused loop's chunks and the step-by-step path's single
    product give the same bits); :meth:`t_matmul` the transposed product (gradients)."""

    def __init__(self, x: torch.Tensor):
        flat = x.detach().reshape(-1, x.shape[-1])
        R, C = flat.shape
        flat1 = flat.reshape(-1)
        # nonzero on the bit pattern (_nonzero_flat); -0.0 then counts as an entry, whose
        # product adds a signed zero (no effect on any sum)
        lin = _nonzero_flat(flat1)
        vals = flat1.index_select(0, lin)  # (about 3x faster than flat1[lin])
        self.nnz = int(lin.numel())
        self.vals = None if bool((vals == 1).all()) else vals
        rows = torch.div(lin, C, rounding_mode="floor")
        self.cols = (lin % C).to(torch.int32)
        crow = torch.zeros(R + 1, dtype=torch.int64, device=x.device)
        crow[1:] = torch.bincount(rows, minlength=R).cumsum(0)
        self.crow = crow.to(torch.int32)
        self.shape = (R, C)
        self._dtype = flat.dtype

    def _block(self, row0: int, rows: int | None):
        rows = self.shape[0] - row0 if rows is None else rows
        a, b = int(self.crow[row0]), int(self.crow[row0 + rows])
        vals = (
            self.vals[a:b]
            if self.vals is not None
            else torch.ones(b - a, dtype=self._dtype, device=self.cols.device)
        )
        return rows, a, b, vals

    def rows_sum(self, row0: int, rows: int | None, W: torch.Tensor) -> torch.Tensor:
        """``x[row0:row0 + rows] @ W`` ``[rows, m]`` for weights ``W`` ``[C, m]``: for each
        row the rows of ``W`` of its non-zero entries (times their values) summed in
        increasing column order (``embedding_bag`` in sum mode, about twice as fast as the
        CSR product here; row by row, so any blocking of the rows gives the same bits)."""
        rows = self.shape[0] - row0 if rows is None else rows
        a, b = int(self.crow[row0]), int(self.crow[row0 + rows])
        offsets = self.crow[row0 : row0 + rows] - a
        vals = self.vals[a:b] if self.vals is not None else None
        return torch.nn.functional.embedding_bag(
            self.cols[a:b], W, offsets, mode="sum", per_sample_weights=vals
        )

    def t_matmul(
        self, row0: int, rows: int | None, G: torch.Tensor, out: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``x[row0:row0 + rows]^T @ G`` ``[C, m]`` for ``G`` ``[rows, m]`` (the gradient of
        the input weights), added into ``out`` in place when given: a sparse COO product
        built directly in transposed form (one multiply-add of a row of ``G`` per non-zero
        entry)."""
        rows, a, b, vals = self._block(row0, rows)
        counts = (self.crow[row0 + 1 : row0 + rows + 1] - self.crow[row0 : row0 + rows]).long()
        r = torch.repeat_interleave(torch.arange(rows, device=counts.device), counts)
        st = torch.sparse_coo_tensor(
            torch.stack([self.cols[a:b].to(torch.int64), r]),
            vals,
            (self.shape[1], rows),
            check_invariants=False,
        )
        return torch.sparse.mm(st, G) if out is None else torch.addmm(out, st, G, out=out)


class _SparseDrive(torch.autograd.Function):
    """``x @ W`` for a :class:`_SparseInput` ``x`` (:meth:`_SparseInput.rows_sum`, the product
    the fused loop computes per chunk, so the two paths get the same drive bit for bit);
    gradient w.r.t. ``W`` only, ``x^T @ grad`` as a sparse product."""

    @staticmethod
    def forward(ctx, xs, W):
        ctx.xs = xs
        return xs.rows_sum(0, None, W)

    @staticmethod
    def backward(ctx, grad):
        gW = ctx.xs.t_matmul(0, None, grad) if ctx.needs_input_grad[1] else None
        return None, gW
