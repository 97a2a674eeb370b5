"""`FastBackend`: the numba engine behind the training driver (`counting.training`).

Same interface as `ReferenceBackend`: `train_epoch(order) -> mean online loss`,
`evaluate(seqs) -> metrics dict` (as `counting.metrics.evaluate`), `to_model()`. It runs on
one thread (no numba threading layer is started); hidden sizes 1-8, float64 only.
"""

from __future__ import annotations

import numpy as np

from counting.engine.evaluate import block_kernel
from counting.engine.evaluate_h import eval_model
from counting.engine.layout import CELL_IDS, P_MAX, n_params, pack, supports, unpack
from counting.engine.losses import loss_id
from counting.engine.train import epoch_kernel, scratch
from counting.engine.update import options_vector
from counting.engine.words import EvalSet, pack_words
from counting.metrics import summarize_fpf
from counting.models import CounterRNN


class FastBackend:
    """Adam training of one float64 model (hidden size 1-8) with the numba kernels, with the
    config's training options (batch size, clip, weight decay, L1; `engine.update`).

    State: parameters, Adam moments (max(P_MAX, n),) float64 (n = n_params(cell, hidden))
    and Adam's step count; they start from `model` (normally `init_model(cell, H, seed)`) and
    zero moments, as torch's Adam does.
    """

    name = "fast"

    def __init__(self, model: CounterRNN, train_seqs: list[str], config):
        reason = supports(model)
        if reason is not None:
            raise ValueError(f"{reason}; use the reference engine (--engine reference)")
        self.cell = model.cell
        self.cell_id = CELL_IDS[model.cell]
        self.hidden = model.hidden_size
        self.n = n_params(model.cell, self.hidden)
        self.params = np.zeros(max(P_MAX, self.n))
        self.params[: self.n] = pack(model)
        self.m = np.zeros(self.params.size)
        self.v = np.zeros(self.params.size)
        self.step = 0.0
        self.lr = float(config.lr)
        self.loss_name = config.loss
        self.loss = loss_id(config.loss)
        self.toks, self.offs = pack_words(train_seqs)
        self._scratch = scratch(max((len(s) for s in train_seqs), default=1), self.cell,
                                self.hidden)
        self.opts = options_vector(config)  # batch size, clip, weight decay, L1
        self._acc = np.empty(self._scratch[1].size)
        self._prepared: dict[int, tuple[list, EvalSet]] = {}
        self._epoch = epoch_kernel(self.cell_id, self.hidden)  # this cell and size only

    def train_epoch(self, order: np.ndarray) -> float:
        order = np.ascontiguousarray(order, dtype=np.int64)
        if order.size and (order.min() < 0 or order.max() >= self.offs.size - 1):
            raise ValueError(f"order indexes outside the {self.offs.size - 1} training words")
        value, self.step = self._epoch(
            self.cell_id, self.hidden, self.params, self.m, self.v, self.step, self.lr,
            self.loss, self.toks, self.offs, order, *self._scratch, self.opts, self._acc,
        )
        return float(value)

    def prepared(self, seqs: list[str]) -> EvalSet:
        """The EvalSet of `seqs`, cached per list object (the driver passes the same lists)."""
        hit = self._prepared.get(id(seqs))
        if hit is None or hit[0] is not seqs or hit[1].lengths.size != len(seqs):
            hit = (seqs, EvalSet.from_words(seqs))
            self._prepared[id(seqs)] = hit
        return hit[1]

    def evaluate(self, seqs: list[str]) -> dict:
        es = self.prepared(seqs)
        seq_loss, fpf = evaluate_prepared(self.cell_id, self.params, self.loss, es, self.hidden)
        return metrics_dict(seq_loss, fpf, es.lengths)

    def to_model(self) -> CounterRNN:
        return unpack(self.params[: self.n], self.cell, hidden_size=self.hidden)


def evaluate_prepared(cell_id: int, params: np.ndarray, loss: int, es: EvalSet,
                      hidden: int = 1):
    """One model on a prepared set -> (per-word losses, FPFs), both in the set's input order."""
    n = es.index.size
    seq_loss = np.empty((1, n))
    fpf = np.empty((1, n), dtype=np.int64)
    if hidden > 1:
        eval_model(cell_id, hidden, params, loss, es.toks, es.offs, es.lcp, es.max_len,
                   seq_loss[0], fpf[0])
    else:
        PT = np.ascontiguousarray(params.reshape(-1, 1))
        block_kernel(cell_id)(cell_id, PT, loss, es.toks, es.offs, es.lcp, es.max_len,
                              seq_loss, fpf)
    return unsort(seq_loss[0], es.index), unsort(fpf[0], es.index)


def unsort(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """values[..., s] belongs to input word index[s] -> array in input order."""
    out = np.empty_like(values)
    out[..., index] = values
    return out


def metrics_dict(seq_loss: np.ndarray, fpf: np.ndarray, lengths: np.ndarray,
                 fpfs: bool = True) -> dict:
    """Per-word losses and FPFs (input order) -> the dict `counting.metrics.evaluate` returns
    (without the "fpfs" list when fpfs=False)."""
    out = summarize_fpf(fpf, lengths)
    out["loss"] = float(np.mean(seq_loss)) if seq_loss.size else float("nan")
    if fpfs:
        out["fpfs"] = fpf.tolist()
    return out
