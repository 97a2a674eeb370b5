"""`counting train`: train one model and write history.json, best.pt and checkpoints/.

--engine fast (numba, `counting.engine.FastBackend`) is the default where it applies
(hidden size 1, float64); otherwise the torch reference runs. Both write the same files.
"""

from __future__ import annotations

from counting.datasets import load_datasets
from counting.models import CELLS
from counting.options import int_in, positive_float, positive_int, seed_int
from counting.paths import declare_paths
from counting.training import ReferenceBackend, TrainConfig, run_training

MAX_HIDDEN = 8  # hidden units: the toolkit is about tiny counters (the paper uses 1)


def add_training_options(p) -> None:
    """Options shared by `train` and `sweep` (their values are checked at parse time)."""
    p.add_argument("--data", required=True,
                   help="directory written by `counting data` (train.txt and validation.txt "
                   "are required, long.txt is evaluated every epoch when present)")
    p.add_argument("--epochs", type=positive_int, default=30,
                   help="epochs, an integer >= 1 (default 30)")
    p.add_argument("--lr", type=positive_float, default=None,
                   help="Adam learning rate, a finite number > 0 (default: 0.01 for LSTM and "
                   "ReLU, 0.001 for GRU, as in the paper)")
    p.add_argument("--loss", choices=("mse", "bce"), default="mse",
                   help="mse = mean squared error over the 2 outputs x tokens (the paper's); "
                   "bce = binary cross-entropy (default mse)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type of the model (default float64; the fast engine "
                   "needs float64)")
    p.add_argument("--hidden-size", type=int_in(1, MAX_HIDDEN), default=1,
                   help=f"hidden units, 1 to {MAX_HIDDEN} (default 1, the paper's; the fast "
                   "engine needs 1)")
    declare_paths(p, input_dirs=("data",))


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model",
                       description="Online Adam training of one CounterRNN on DATA/train.txt.")
    p.add_argument("--cell", choices=CELLS, required=True,
                   help="the recurrent cell: lstm (nn.LSTM), relu (nn.RNN with ReLU) or gru "
                   "(nn.GRU)")
    p.add_argument("--out", required=True,
                   help="run directory to write: history.json, best.pt, checkpoints/")
    p.add_argument("--seed", type=seed_int, default=0,
                   help="init seed, an integer >= 0; the shuffle order derives from it too "
                   "(default 0)")
    declare_paths(p, output_dirs=("out",))
    p.add_argument("--engine", choices=("fast", "reference"), default=None,
                   help="fast = numba kernels (the default where they apply: hidden size 1, "
                   "float64); reference = plain torch (any model; the oracle)")
    add_training_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    sets = load_datasets(args.data, ("train", "validation", "long"),
                         required=("train", "validation"))
    config = TrainConfig(cell=args.cell, hidden_size=args.hidden_size, epochs=args.epochs,
                         lr=args.lr, loss=args.loss, seed=args.seed, dtype=args.dtype)
    backend = _backend(args)
    if backend.name == "fast":
        from counting.firstrun import warm_engine

        warm_engine("train", args.loss)  # compile before the bar starts: an honest ETA
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
