"""`ModelBatch`: M models of one cell on the GPU, trained and evaluated in lock step.

    batch = ModelBatch("lstm", init_params("lstm", seeds), "float64", lr=0.01, loss="mse",
                       train=FlatSet.from_seqs(train_seqs))
    batch.launch_epoch(orders)        # orders (M, n): asynchronous, returns at once
    online = batch.epoch_losses()     # (M,) float64 mean online loss; waits for the GPU
    metrics = batch.evaluate(FlatSet.from_seqs(val_seqs))   # per-model arrays

Every model does one Adam step per sequence (online training), so all models share Adam's step
count; a diverged model (`status` 1) is skipped by later epochs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from counting.dyck import tokens as token_ids
from counting.gpu.device import choose_block, require_cuda
from counting.gpu.kernels import eval_kernel, scratch_len, train_kernel
from counting.gpu.params import n_params, numpy_dtype

BETA1, BETA2 = 0.9, 0.999


@dataclass
class FlatSet:
    """A set of words as flat tokens (int8, total length) + offsets (int64, S+1)."""

    tokens: np.ndarray
    offsets: np.ndarray

    @classmethod
    def from_seqs(cls, seqs: list[str]) -> FlatSet:
        if not seqs:
            raise ValueError("cannot run the GPU kernels on an empty set of sequences")
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        if lengths.min() < 1:
            raise ValueError("sequences must be non-empty")
        toks = np.concatenate([token_ids(s) for s in seqs]).astype(np.int8)
        offs = np.zeros(len(seqs) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offs[1:])
        return cls(toks, offs)

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def to_device(self, cuda):
        return cuda.to_device(self.tokens), cuda.to_device(self.offsets)


def adam_tables(lr: float, first_step: int, n: int, dtype) -> tuple[np.ndarray, np.ndarray]:
    """-step_size and sqrt(bias_correction2) for Adam steps first_step+1 .. first_step+n, in
    Python floats exactly as torch's single-tensor Adam computes them, cast to `dtype` as its
    kernels do."""
    nss = np.empty(n, dtype=np.float64)
    bc2s = np.empty(n, dtype=np.float64)
    for k in range(n):
        step = float(first_step + k + 1)
        nss[k] = -(lr / (1 - BETA1**step))
        bc2s[k] = (1 - BETA2**step) ** 0.5
    npdt = numpy_dtype(dtype)
    return nss.astype(npdt), bc2s.astype(npdt)


class ModelBatch:
    """M models of `cell` (hidden size 1) on the device.

    Args:
        params: (P, M) initial weights (see counting.gpu.params).
        dtype: 'float32' | 'float64' - the kernels' arithmetic.
        train: the training set.
        block: threads per block (default: chosen from M, see device.choose_block).
        adam_state, max_registers: training-kernel tuning (see counting.gpu.kernels).
    """

    def __init__(self, cell: str, params: np.ndarray, dtype: str, lr: float, loss: str,
                 train: FlatSet, block: int | None = None, adam_state: str = "global",
                 max_registers: int | None = None):
        self.cuda = require_cuda()
        if loss not in ("mse", "bce"):
            raise ValueError(f"loss must be 'mse' or 'bce', got {loss!r}")
        self.cell, self.dtype, self.lr, self.loss = cell, str(numpy_dtype(dtype)), lr, loss
        npdt = numpy_dtype(dtype)
        params = np.ascontiguousarray(params, dtype=npdt)
        if params.ndim != 2 or params.shape[0] != n_params(cell):
            raise ValueError(f"params must have shape ({n_params(cell)}, M), got {params.shape}")
        self.M = params.shape[1]
        self.block = choose_block(self.M, block)
        self.grid = -(-self.M // self.block)
        cuda = self.cuda
        self.d_params = cuda.to_device(params)
        self.d_m = cuda.to_device(np.zeros_like(params))
        self.d_v = cuda.to_device(np.zeros_like(params))
        self.d_status = cuda.to_device(np.zeros(self.M, dtype=np.int32))
        self.d_loss = cuda.device_array(self.M, dtype=np.float64)
        self.train = train
        self.d_train = train.to_device(cuda)
        self.maxlen = scratch_len(train.lengths.max())
        self.steps = 0
        self.adam_state, self.max_registers = adam_state, max_registers
        self._d_orders = None
        self._eval_sets: dict[int, tuple] = {}

    def launch_epoch(self, orders: np.ndarray) -> None:
        """Queue one epoch: model m visits training sequences orders[m] (shape (M, n))."""
        orders = np.ascontiguousarray(orders)
        if orders.shape != (self.M, self.train.n):
            raise ValueError(f"orders must have shape {(self.M, self.train.n)}, got {orders.shape}")
        if self._d_orders is None or self._d_orders.dtype != orders.dtype:
            self._d_orders = self.cuda.to_device(orders)
        else:
            self._d_orders.copy_to_device(orders)
        nss, bc2s = adam_tables(self.lr, self.steps, self.train.n, self.dtype)
        kernel = train_kernel(self.cell, self.dtype, self.loss, self.maxlen, self.adam_state,
                              self.max_registers)
        # kept on self so that they outlive the asynchronous launch
        self._d_tables = (self.cuda.to_device(nss), self.cuda.to_device(bc2s))
        kernel[self.grid, self.block](
            self.d_params, self.d_m, self.d_v, *self.d_train, self._d_orders,
            *self._d_tables, self.d_status, self.d_loss)
        self.steps += self.train.n

    def epoch_losses(self) -> np.ndarray:
        """(M,) float64 mean online loss of the last epoch (NaN for models already diverged)."""
        return self.d_loss.copy_to_host()

    def status(self) -> np.ndarray:
        return self.d_status.copy_to_host()

    def mark_diverged(self, mask: np.ndarray) -> None:
        """Stop training the models where `mask` (M,) is True."""
        status = self.status()
        status[np.asarray(mask, dtype=bool)] = 1
        self.d_status.copy_to_device(status)

    def params(self) -> np.ndarray:
        """(P, M) current weights."""
        return self.d_params.copy_to_host()

    def evaluate(self, fset: FlatSet, params: np.ndarray | None = None,
                 fpfs: bool = False) -> dict:
        """Evaluate every model (or `params` (P, M) instead of the current weights) on a set.

        -> {"loss" (M,) mean of per-sequence mean losses, "accuracy" (M,) %, "fpf" (M,) mean
        FPF, "fully_right" (M,), "classes" (M, 4), "n", and "fpfs" (M, S) if asked}.
        """
        cuda = self.cuda
        key = id(fset)
        if key not in self._eval_sets or self._eval_sets[key][0] is not fset:
            self._eval_sets[key] = (fset, fset.to_device(cuda))
        d_tokens, d_offs = self._eval_sets[key][1]
        if params is None:
            d_params = self.d_params
        else:
            d_params = cuda.to_device(np.ascontiguousarray(params, dtype=self.dtype))
        M, S = self.M, fset.n
        d_loss = cuda.device_array(M, dtype=np.float64)
        d_fully = cuda.device_array(M, dtype=np.int64)
        d_fsum = cuda.device_array(M, dtype=np.int64)
        d_cls = cuda.device_array((M, 4), dtype=np.int64)
        d_fpfs = cuda.device_array((M, S) if fpfs else (0, 0), dtype=np.int32)
        eval_kernel(self.cell, self.dtype, self.loss)[self.grid, self.block](
            d_params, d_tokens, d_offs, d_loss, d_fully, d_fsum, d_cls, d_fpfs)
        fully = d_fully.copy_to_host()
        out = {
            "n": S,
            "loss": d_loss.copy_to_host() / S,
            "fully_right": fully,
            "accuracy": 100.0 * fully / S,
            "fpf": d_fsum.copy_to_host() / S,
            "classes": d_cls.copy_to_host(),
        }
        if fpfs:
            out["fpfs"] = d_fpfs.copy_to_host()
        return out
