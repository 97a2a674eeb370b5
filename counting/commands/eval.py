"""`counting eval`: accuracy, FPF and fully-right counts of a checkpoint on every set file."""

from __future__ import annotations

from counting.checkpoint import load_checkpoint
from counting.datasets import SET_NAMES, load_datasets
from counting.fileformat import write_json_atomic
from counting.metrics import LONG_WORD, evaluate
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "eval",
        help="evaluate a checkpoint on the data sets",
        description="Sequence accuracy (in %), mean First Point of Failure and "
        "fully-right count on each set file present in DATA.",
    )
    p.add_argument("checkpoint", metavar="CKPT",
                   help="a checkpoint file (format counting-rnns/1): best.pt or "
                   "checkpoints/epoch_NN.pt of a run, or one written by `counting construct`")
    p.add_argument("--data", required=True,
                   help="directory written by `counting data`; every set file present "
                   f"({', '.join(s + '.txt' for s in SET_NAMES)}) is evaluated")
    p.add_argument(
        "--json",
        dest="json_out",
        metavar="FILE",
        default=None,
        help='also write {"<set>": {"n", "accuracy", "fpf", "fully_right"}} to this file',
    )
    declare_paths(p, input_files=("checkpoint",), input_dirs=("data",),
                  output_files=("json_out",))
    p.set_defaults(func=run)


def run(args) -> int:
    model, _ = load_checkpoint(args.checkpoint)
    sets = load_datasets(args.data, SET_NAMES)
    if not sets:
        raise FileNotFoundError(f"{args.data}: no set files ({', '.join(SET_NAMES)}) found")
    if any(len(s) > LONG_WORD for seqs in sets.values() for s in seqs):
        from counting.jit.warmup import warm_cells

        warm_cells()  # long words run in counting.unrolled's kernels
    results = {}
    print(f"{'set':<12}{'n':>7}{'accuracy %':>12}{'mean FPF':>11}{'fully right':>13}")
    for name, seqs in sets.items():
        m = evaluate(model, seqs, progress=True)
        results[name] = {k: m[k] for k in ("n", "accuracy", "fpf", "fully_right")}
        print(f"{name:<12}{m['n']:>7}{m['accuracy']:>12.2f}{m['fpf']:>11.1f}{m['fully_right']:>13}")
    if args.json_out:
        write_json_atomic(args.json_out, results)
    return 0
