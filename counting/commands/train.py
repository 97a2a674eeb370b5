"""`counting train`: train one model and write history.json, best.pt and checkpoints/.

--engine fast (numba, `counting.engine.FastBackend`) is the default where it applies
(hidden sizes 1-8, float64); otherwise the torch reference runs. Both write the same files.
"""

from __future__ import annotations

from counting.datasets import load_datasets
from counting.models import CELLS, MAX_HIDDEN
from counting.options import int_in
from counting.training import ReferenceBackend, TrainConfig, run_training


def add_training_options(p) -> None:
    """Options shared by `train` and `sweep`."""
    p.add_argument("--data", required=True, help="directory written by `counting data`")
    p.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.01 LSTM/ReLU, 0.001 GRU)")
    p.add_argument("--loss", choices=("mse", "bce"), default="mse", help="loss (default mse)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type (default float64)")
    p.add_argument("--hidden-size", type=int_in(1, MAX_HIDDEN), default=1,
                   help=f"hidden units, 1 to {MAX_HIDDEN} (default 1)")


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model",
                       description="Online Adam training of one CounterRNN on DATA/train.txt.")
    p.add_argument("--cell", choices=CELLS, required=True)
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--seed", type=int, default=0, help="init seed (default 0)")
    p.add_argument("--engine", choices=("fast", "reference"), default=None,
                   help="fast = numba kernels (the default where they apply: float64, hidden "
                   "sizes 1-8); reference = plain torch (any model; the oracle)")
    add_training_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    backend = _backend(args)
    sets = load_datasets(args.data, ("train", "validation", "long"),
                         required=("train", "validation"))
    config = TrainConfig(cell=args.cell, hidden_size=args.hidden_size, epochs=args.epochs,
                         lr=args.lr, loss=args.loss, seed=args.seed, dtype=args.dtype)
    history = run_training(config, sets, args.out, backend_factory=backend)
    if history["diverged"]:
        print(f"run diverged at epoch {history['diverged_at_epoch']} (loss not finite)")
    else:
        print(f"best epoch {history['best_epoch']}: validation loss "
              f"{history['best_validation_loss']:.6g}; wrote {args.out} "
              f"({backend.name} engine)")
    return 0


def _backend(args):
    """The backend factory for --engine (None: fast where it applies, else reference)."""
    if args.engine == "reference":
        return ReferenceBackend
    from counting.engine import FastBackend, supports

    reason = supports(args.cell, args.hidden_size, args.dtype)
    if reason is None:
        return FastBackend
    if args.engine == "fast":
        raise ValueError(f"--engine fast: {reason}; use --engine reference")
    return ReferenceBackend
