"""`CudaBackend`: one model on the GPU behind `counting.training.run_training`'s backend
interface (`train_epoch(order)`, `evaluate(seqs)`, `to_model()`), so that a GPU run writes the
same history as the reference and can be compared with it epoch by epoch.

    run_training(config, sets, out_dir, backend_factory=CudaBackend)

For thousands of models use `counting.gpu.sweep.gpu_sweep`, which trains them together.
"""

from __future__ import annotations

import numpy as np

from counting.gpu.batch import FlatSet, ModelBatch
from counting.gpu.params import model_to_vector, vector_to_model
from counting.models import CounterRNN, dtype_name
from counting.training import LOOP_OPTIONS, non_default_options


class CudaBackend:
    name = "cuda"

    def __init__(self, model: CounterRNN, train_seqs: list[str], config, block: int | None = None):
        if model.hidden_size != 1:
            raise ValueError(
                f"the GPU backend supports hidden_size 1 only, got {model.hidden_size}")
        unsupported = non_default_options(config, LOOP_OPTIONS)
        if unsupported:  # init options arrive as the model's weights and need nothing here
            raise ValueError(f"the GPU backend does not implement {', '.join(unsupported)}; "
                             "use the fast or reference engine")
        self.cell = model.cell
        self.dtype = dtype_name(model.dtype)
        self.loss = config.loss
        self.batch = ModelBatch(model.cell, model_to_vector(model)[:, None], self.dtype,
                                config.lr, config.loss, FlatSet.from_seqs(train_seqs), block)
        self._sets: dict[int, tuple[list[str], FlatSet]] = {}

    def train_epoch(self, order: np.ndarray) -> float:
        self.batch.launch_epoch(np.asarray(order)[None, :].astype(np.int64))
        return float(self.batch.epoch_losses()[0])

    def _flat(self, seqs: list[str]) -> FlatSet:
        hit = self._sets.get(id(seqs))
        if hit is None or hit[0] is not seqs:
            hit = (seqs, FlatSet.from_seqs(seqs))
            self._sets[id(seqs)] = hit
        return hit[1]

    def evaluate(self, seqs: list[str]) -> dict:
        """The same dict as counting.metrics.evaluate (n, accuracy, fpf, fully_right, loss,
        fpfs)."""
        r = self.batch.evaluate(self._flat(seqs), fpfs=True)
        return {
            "n": r["n"],
            "accuracy": float(r["accuracy"][0]),
            "fpf": float(r["fpf"][0]),
            "fully_right": int(r["fully_right"][0]),
            "loss": float(r["loss"][0]),
            "fpfs": [int(x) for x in r["fpfs"][0]],
        }

    def to_model(self) -> CounterRNN:
        return vector_to_model(self.cell, self.batch.params()[:, 0], self.dtype)
