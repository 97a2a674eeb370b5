"""`counting train`: train one model and write history.json, best.pt and checkpoints/.

--engine fast (numba, `counting.engine.FastBackend`) is the default where it applies
(hidden sizes 1-8, float64); otherwise the torch reference runs. Both write the same files.
"""

from __future__ import annotations

from counting.datasets import load_datasets
from counting.inits import INITS
from counting.models import CELLS, MAX_HIDDEN
from counting.options import (
    float_in,
    int_in,
    nonnegative_float,
    positive_float,
    positive_int,
    seed_int,
)
from counting.paths import declare_paths
from counting.training import (
    OPTION_FIELDS,
    PROTOCOLS,
    SELECTIONS,
    SESSIONS,
    STAGE_EPOCHS,
    ReferenceBackend,
    TrainConfig,
    protocol_values,
    run_training,
)


def add_protocol_options(p) -> None:
    """--protocol and the three switches it sets (train, sweep, reproduce, robustness)."""
    g = p.add_argument_group(
        "protocol (default: ours, the paper's text; authors = what the authors' scripts did, "
        "docs/DEVIATIONS.md)")
    g.add_argument("--protocol", choices=tuple(PROTOCOLS), default=None,
                   help="paper = --selection mean --sessions one --stage-epochs paper (the "
                   "default); authors = --selection authors --sessions authors --stage-epochs "
                   "authors. A switch given on its own overrides the protocol's value")
    g.add_argument("--selection", choices=SELECTIONS, default=None,
                   help="which validation loss picks best.pt: mean = the true mean over the "
                   "validation words, all epochs (default); authors = the authors' logged "
                   "loss (the loss of the last word of the epoch's seeded shuffle of the "
                   "validation set / its size), minimum over epochs 1-20; the true mean stays "
                   "recorded")
    g.add_argument("--sessions", choices=SESSIONS, default=None,
                   help="one = one 30-epoch session, a fresh shuffle every epoch (default); "
                   "authors = LSTM and GRU train 20 epochs, then 10 more from the epoch-20 "
                   "weights and Adam state with the shuffle order restarting (epoch 21 "
                   "repeats epoch 1's order); ReLU keeps one session")
    g.add_argument("--stage-epochs", choices=tuple(STAGE_EPOCHS), default=None,
                   help="the checkpointed stage models (Table 2 / Fig 1 / Fig 3): paper = after "
                   "epochs 1, 5, 10, 15, 20, 25 (default); authors = after epochs 1, 6, 11, "
                   "16, 21, 26, and Table 2's train loss is the online loss")


def protocol_config(args) -> dict:
    """TrainConfig keyword arguments of the protocol switches of parsed `args`."""
    v = protocol_values(getattr(args, "protocol", None), getattr(args, "selection", None),
                        getattr(args, "sessions", None), getattr(args, "stage_epochs", None))
    return {"selection": v["selection"], "sessions": v["sessions"],
            "checkpoint_epochs": STAGE_EPOCHS[v["stage_epochs"]]}


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
                   help=f"hidden units, 1 to {MAX_HIDDEN} (default 1, the paper's)")
    g = p.add_argument_group("training options (defaults: the paper's online protocol)")
    g.add_argument("--init", choices=INITS, default="torch",
                   help="initial weights: torch = PyTorch's default init (default); irnn = "
                   "ReLU only, W_hh = 1 and biases 0, input and readout weights torch's; "
                   "construction = the exact counter of `constructions` (lstm, relu)")
    g.add_argument("--init-noise", type=nonnegative_float, default=None, metavar="S",
                   help="with --init construction: add Gaussian noise of std S to every "
                   "weight, drawn from the init seed (default 0)")
    g.add_argument("--forget-bias", type=float_in(), default=None, metavar="B",
                   help="lstm only: set the forget gate's bias to B after init "
                   "(b_ih[f] = B, b_hh[f] = 0)")
    g.add_argument("--clip", type=positive_float, default=None, metavar="NORM",
                   help="clip the gradient's global L2 norm to NORM before each Adam step "
                   "(torch.nn.utils.clip_grad_norm_; default: no clipping)")
    g.add_argument("--batch-size", type=positive_int, default=1, metavar="B",
                   help="words per Adam step; the objective is the batch mean of each word's "
                   "mean loss (default 1: online training)")
    g.add_argument("--weight-decay", type=nonnegative_float, default=0.0, metavar="W",
                   help="L2 penalty, torch Adam's weight_decay (default 0)")
    g.add_argument("--l1", type=nonnegative_float, default=0.0, metavar="L",
                   help="add L * sum|w| over all weights to the optimised loss (default 0); "
                   "recorded losses stay the data loss")
    add_protocol_options(p)
    declare_paths(p, input_dirs=("data",))


def option_values(args) -> dict:
    """The training options of parsed `args` as TrainConfig keyword arguments (the protocol
    switches not included: `protocol_config`)."""
    return {k: getattr(args, k) for k in OPTION_FIELDS}


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
                   help="fast = numba kernels (the default where they apply: float64, hidden "
                   "sizes 1-8); reference = plain torch (any model; the oracle)")
    add_training_options(p)
    p.set_defaults(func=run)


def run(args) -> int:
    config = TrainConfig(cell=args.cell, hidden_size=args.hidden_size, epochs=args.epochs,
                         lr=args.lr, loss=args.loss, seed=args.seed, dtype=args.dtype,
                         **option_values(args), **protocol_config(args))
    backend = _backend(args)
    sets = load_datasets(args.data, ("train", "validation", "long"),
                         required=("train", "validation"))
    if backend.name == "fast":
        from counting.jit.warmup import warm_engine

        # compile this cell's kernels before the bar starts: an honest ETA
        warm_engine("train", args.loss, cells=(args.cell,), hidden_size=args.hidden_size)
    history = run_training(config, sets, args.out, backend_factory=backend)
    if history["diverged"]:
        print(f"run diverged at epoch {history['diverged_at_epoch']} (loss not finite)")
    elif history.get("selection") == "authors":
        print(f"best epoch {history['best_epoch']} (selection authors): logged validation "
              f"loss {history['best_validation_loss']:.6g}, true mean "
              f"{history['best_validation_loss_mean']:.6g}; wrote {args.out} "
              f"({backend.name} engine)")
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
