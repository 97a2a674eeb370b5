"""Many models at once: parallel kernels and `ModelBank`, the state of B models.

Training: one model per thread - a `prange` over the worker threads, each taking the next
model from a shared atomic counter (heaviest cells first), so that LSTM, GRU and ReLU runs
of one sweep share the cores evenly. Evaluation: blocks of up to LANES hidden-size-1 models
of one cell, one block per thread at a time, one model per SIMD lane
(`evaluate.eval_block`); a model of hidden size H > 1 is a block of its own
(`evaluate_h.eval_model`, its gates vectorized). Every
model's numbers depend on nothing but its own parameters and words (no random numbers in
the kernels), so results are bitwise the same on any number of threads and in any block.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import prange

from counting.engine.evaluate import eval_block
from counting.engine.evaluate_h import eval_model
from counting.engine.intrinsics import atomic_add
from counting.engine.jit import parallel
from counting.engine.layout import CELL_IDS, P_MAX, n_params, pack, unpack
from counting.engine.train import CACHE, scratch_rows, train_epoch, train_epoch_h1
from counting.engine.update import N_OPTS, default_options
from counting.engine.words import EvalSet, pack_words

# Relative cost of a model-epoch per cell (measured), used to start heavy models first.
COST = {"lstm": 3.0, "gru": 2.5, "relu": 1.0}
LANES = 32  # at most this many models per evaluation block
VECTOR = 8  # float64 lanes of an AVX-512 vector: blocks are padded to a multiple of it


def _many_kernels(NARROW):
    """(train_many, eval_many) compiled for models of every cell at hidden size 1 only
    (NARROW: the H > 1 kernels are pruned, numba never compiles them) or of any hidden size.
    The same arithmetic either way (the same kernels run)."""
    WIDE = not NARROW

    @parallel
    def train_many(workers, queue, cells, hidden, P, M, V, steps, lrs, loss, toks, offs,
                   orders, max_len, online, opts):
        """`workers` threads take models from a shared counter; each model i in `queue` gets
        one epoch on orders[i] with its training options opts[i]. cells, hidden (B,) int64 (cell
        ids, hidden sizes); P, M, V (B, >= n_params); steps, lrs, online (B,) float64; orders
        (B, n) int64; opts (B, N_OPTS) float64 (`update.options_vector`). Rows not in `queue`
        are left untouched."""
        counter = np.zeros(1, dtype=np.int64)
        for _w in prange(workers):
            widest = 1 if NARROW or not hidden.size else hidden.max()
            S = np.empty((scratch_rows(max_len, widest), CACHE))
            grad = np.empty(P.shape[1])
            acc = np.empty(P.shape[1])
            while True:
                j = atomic_add(counter, 0, 1)
                if j >= queue.shape[0]:
                    break
                i = queue[j]
                if NARROW:
                    online[i], steps[i] = train_epoch_h1(
                        cells[i], hidden[i], P[i], M[i], V[i], steps[i], lrs[i], loss, toks,
                        offs, orders[i], S, grad, opts[i], acc,
                    )
                else:
                    online[i], steps[i] = train_epoch(
                        cells[i], hidden[i], P[i], M[i], V[i], steps[i], lrs[i], loss, toks,
                        offs, orders[i], S, grad, opts[i], acc,
                    )

    @parallel
    def eval_many(workers, blocks, widths, block_cells, block_hidden, P, loss, toks, offs, lcp,
                  max_len, seq_loss, fpf):
        """`workers` threads take blocks from a shared counter and evaluate their models on the
        prepared set (toks, offs, lcp). blocks (nb, LANES) int64: model rows, -1 padded;
        widths (nb,): lanes to run (>= the rows; extra lanes repeat the first model and are
        dropped, so that the vectorized loop has no scalar remainder); block_cells,
        block_hidden (nb,) (a block of hidden size > 1 holds one model); P (B, >= n_params);
        seq_loss (B, n) float64 and fpf (B, n) int64 receive the rows' results in the set's
        sorted order."""
        counter = np.zeros(1, dtype=np.int64)
        n = offs.shape[0] - 1
        for _w in prange(workers):
            while True:
                b = atomic_add(counter, 0, 1)
                if b >= blocks.shape[0]:
                    break
                if WIDE and block_hidden[b] > 1:
                    i = blocks[b, 0]
                    eval_model(block_cells[b], block_hidden[b], P[i], loss, toks, offs, lcp,
                               max_len, seq_loss[i], fpf[i])
                    continue
                rows = 0
                while rows < blocks.shape[1] and blocks[b, rows] >= 0:
                    rows += 1
                PT = np.empty((P_MAX, widths[b]))
                for j in range(widths[b]):  # element loops: no shape checks to compile
                    src = blocks[b, j if j < rows else 0]
                    for q in range(P_MAX):
                        PT[q, j] = P[src, q]
                sl = np.empty((widths[b], n))
                ff = np.empty((widths[b], n), dtype=np.int64)
                eval_block(block_cells[b], PT, loss, toks, offs, lcp, max_len, sl, ff)
                for j in range(rows):
                    dst = blocks[b, j]
                    for q in range(n):
                        seq_loss[dst, q] = sl[j, q]
                        fpf[dst, q] = ff[j, q]

    return train_many, eval_many


# Both variants are created now (nothing is compiled until one is called).
MANY_KERNELS = {narrow: _many_kernels(narrow) for narrow in (False, True)}
train_many, eval_many = MANY_KERNELS[False]  # any hidden size


def many_kernels(hidden: np.ndarray):
    """(train_many, eval_many) for a bank of models of hidden sizes `hidden`."""
    return MANY_KERNELS[not (hidden.size and int(hidden.max()) > 1)]


class JointSet:
    """Several word sets prepared as one EvalSet (each sorted on its own, LCP 0 at the start
    of each), so one kernel call evaluates a model on all of them.

    `split(values)` cuts an (..., n_total) array of per-word results, in the joint sorted
    order, into {name: (..., n_name) array in that set's input order}.
    """

    def __init__(self, sets: dict[str, list[str]]):
        self.names = [k for k, v in sets.items() if v]
        parts = [EvalSet.from_words(sets[k]) for k in self.names]
        self.parts = dict(zip(self.names, parts, strict=True))
        if parts:
            self.toks = np.concatenate([p.toks for p in parts])
            sizes = np.array([p.toks.size for p in parts])
            starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
            self.offs = np.concatenate(
                [p.offs[:-1] + s for p, s in zip(parts, starts, strict=True)] + [[sizes.sum()]]
            ).astype(np.int64)
            self.lcp = np.concatenate([p.lcp for p in parts])
            self.max_len = max(p.max_len for p in parts)
        else:
            self.toks = np.zeros(0, np.int8)
            self.offs = np.zeros(1, np.int64)
            self.lcp = np.zeros(0, np.int64)
            self.max_len = 1
        self.n = self.offs.size - 1
        bounds = np.cumsum([0] + [p.index.size for p in parts])
        self.slices = {k: slice(bounds[j], bounds[j + 1]) for j, k in enumerate(self.names)}

    def split(self, values: np.ndarray) -> dict[str, np.ndarray]:
        out = {}
        for k in self.names:
            part = values[..., self.slices[k]]
            res = np.empty_like(part)
            res[..., self.parts[k].index] = part
            out[k] = res
        return out


class ModelBank:
    """Parameters, Adam moments and step counts of B float64 models (hidden sizes 1-8).

    Arrays: cells, hidden (B,) int64; P, M, V (B, width): width = the largest n_params, at
    least P_MAX; steps, lrs (B,) float64; opts (B, N_OPTS) each model's training options
    (`update.options_vector`; None: the paper's online training for all). A model's Adam
    state starts at zero, as torch.optim.Adam's does.
    """

    def __init__(self, models: list, lrs: list[float], loss: int, opts=None):
        self.cell_names = [m.cell for m in models]
        self.cells = np.array([CELL_IDS[c] for c in self.cell_names], dtype=np.int64)
        self.hidden = np.array([m.hidden_size for m in models], dtype=np.int64)
        B = len(models)
        width = max([P_MAX] + [n_params(m.cell, m.hidden_size) for m in models])
        self.P = np.zeros((B, width))
        for i, m in enumerate(models):
            self.P[i, : n_params(m.cell, m.hidden_size)] = pack(m)
        self.M = np.zeros((B, width))
        self.V = np.zeros((B, width))
        self.steps = np.zeros(B)
        self.lrs = np.asarray(lrs, dtype=np.float64).copy()
        self.loss = int(loss)
        self.opts = (default_options(B) if opts is None
                     else np.array(opts, dtype=np.float64).reshape(B, N_OPTS))

    def __len__(self) -> int:
        return self.cells.size

    def queue(self, rows) -> np.ndarray:
        """Rows ordered heaviest first (cell cost x hidden size; stable), as int64."""
        rows = list(rows)
        rows.sort(key=lambda i: -COST[self.cell_names[i]] * self.hidden[i])
        return np.array(rows, dtype=np.int64)

    def blocks(self, rows) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Each model of hidden size > 1 a block of its own (heaviest first), then the
        others grouped by cell into near-equal blocks of <= LANES, heaviest cell first ->
        (blocks (nb, LANES) int64, -1 padded; lanes to run (nb,): the rows rounded up to a
        multiple of VECTOR, except a block of one; their cells and hidden sizes (nb,))."""
        out, widths, cells, hidden = [], [], [], []
        for i in self.queue([i for i in rows if self.hidden[i] > 1]):
            out.append(np.concatenate([[i], np.full(LANES - 1, -1, np.int64)]))
            widths.append(1)
            cells.append(self.cells[i])
            hidden.append(self.hidden[i])
        for name in sorted(COST, key=lambda c: -COST[c]):
            mine = [i for i in rows if self.cell_names[i] == name and self.hidden[i] == 1]
            nb = -(-len(mine) // LANES)
            for part in np.array_split(np.array(mine, dtype=np.int64), nb) if nb else []:
                out.append(np.concatenate([part, np.full(LANES - part.size, -1, np.int64)]))
                widths.append(1 if part.size == 1 else -(-part.size // VECTOR) * VECTOR)
                cells.append(CELL_IDS[name])
                hidden.append(1)
        if not out:
            empty = np.zeros(0, np.int64)
            return np.zeros((0, LANES), np.int64), empty, empty, empty
        return (np.stack(out), np.array(widths, dtype=np.int64),
                np.array(cells, dtype=np.int64), np.array(hidden, dtype=np.int64))

    def model(self, i: int):
        """Model i as a float64 CounterRNN (a copy of its parameters)."""
        cell, hidden = self.cell_names[i], int(self.hidden[i])
        return unpack(self.P[i, : n_params(cell, hidden)], cell, hidden_size=hidden)

    def epoch(self, rows, train: tuple | None, orders: np.ndarray | None, joint: JointSet):
        """Train the models `rows` one epoch (when `train` is given) and evaluate them.

        train: (toks, offs, max_len) from `packed_train`; orders: (len(rows), n) int64.
        Returns (online (len(rows),) float64 - NaN when not trained, {set name: (seq_loss,
        fpf) each (len(rows), n_set) in input order}); models with a non-finite online loss
        are not evaluated (their rows hold garbage).
        """
        rows = np.asarray(rows, dtype=np.int64)
        B = len(self)
        workers = numba.get_num_threads()
        online = np.zeros(B)
        if train is not None:
            toks, offs, max_len = train
            orders = np.asarray(orders, dtype=np.int64)
            if orders.shape != (rows.size, offs.size - 1) or (
                    orders.size and (orders.min() < 0 or orders.max() >= offs.size - 1)):
                raise ValueError(f"orders must be ({rows.size}, {offs.size - 1}) indexes of "
                                 f"training words, got shape {orders.shape}")
            full_orders = np.zeros((B, orders.shape[1]), dtype=np.int64)
            full_orders[rows] = orders
            train_many, _ = many_kernels(self.hidden)
            train_many(workers, self.queue(rows), self.cells, self.hidden, self.P, self.M,
                       self.V, self.steps, self.lrs, self.loss, toks, offs, full_orders,
                       max_len, online, self.opts)
        seq_loss = np.empty((B, joint.n))
        fpf = np.empty((B, joint.n), dtype=np.int64)
        ok = [i for i in rows.tolist() if math.isfinite(online[i])]
        if joint.n:
            blocks, widths, block_cells, block_hidden = self.blocks(ok)
            _, eval_many = many_kernels(self.hidden)
            eval_many(workers, blocks, widths, block_cells, block_hidden, self.P, self.loss,
                      joint.toks, joint.offs, joint.lcp, joint.max_len, seq_loss, fpf)
        losses = joint.split(seq_loss[rows])
        fpfs = joint.split(fpf[rows])
        out_online = online[rows] if train is not None else np.full(rows.size, np.nan)
        return out_online, {k: (losses[k], fpfs[k]) for k in joint.names}


def packed_train(words: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Training words -> (toks, offs, max_len) for `ModelBank.epoch`."""
    toks, offs = pack_words(words)
    return toks, offs, max((len(w) for w in words), default=1)
