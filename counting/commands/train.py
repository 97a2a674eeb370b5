"""`counting train`: train one model and write history.json, best.pt and checkpoints/."""

from __future__ import annotations

from counting.datasets import load_datasets
from counting.models import CELLS
from counting.training import TrainConfig, run_training


def add_training_options(p) -> None:
    """Options shared by `train` and `sweep`."""
    p.add_argument("--data", required=True, help="directory written by `counting data`")
    p.add_argument("--epochs", type=int, default=30, help="epochs (default 30)")
    p.add_argument("--lr", type=float, default=None,
                   help="learning rate (default: 0.01 LSTM/ReLU, 0.001 GRU)")
    p.add_argument("--loss", choices=("mse", "bce"), default="mse", help="loss (default mse)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type (default float64)")
    p.add_argument("--hidden-size", type=int, default=1, help="hidden units (default 1)")


def register(sub) -> None:
    p = sub.add_parser("train", help="train one model",
                       description="Online Adam training of one CounterRNN on DATA/train.txt.")
    p.add_argument("--cell", choices=CELLS, required=True)
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--seed", type=int, default=0, help="init seed (default 0)")
    add_training_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    sets = load_datasets(args.data, ("train", "validation", "long"), required=("train", "validation"))
    config = TrainConfig(cell=args.cell, hidden_size=args.hidden_size, epochs=args.epochs,
                         lr=args.lr, loss=args.loss, seed=args.seed, dtype=args.dtype)
    history = run_training(config, sets, args.out, backend_factory=None)
    if history["diverged"]:
        print(f"run diverged at epoch {history['diverged_at_epoch']} (loss not finite)")
    else:
        print(f"best epoch {history['best_epoch']}: validation loss "
              f"{history['best_validation_loss']:.6g}; wrote {args.out}")
    return 0
