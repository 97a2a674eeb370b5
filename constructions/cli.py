"""`counting construct --cell lstm|relu|gru --out model.pt [--dtype float32|float64] [--eps E]`:
write a hand-built counter as an ordinary checkpoint (format counting-rnns/1)."""

from __future__ import annotations

from counting.options import unit_interval
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "construct", help="write a hand-built counter as a checkpoint",
        description="Write an exact counter (lstm, relu) or, with --eps, a leaky one (lstm: "
        "forget gate 1 - E; gru: update gate 1 - E, the best a GRU can do; relu: W_hh = 1 - E) "
        "as an ordinary checkpoint that `counting eval` and `counting diagnose` read.")
    p.add_argument("--cell", choices=("lstm", "relu", "gru"), required=True,
                   help="the cell to build: lstm and relu count exactly; gru needs --eps")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. model.pt)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type (default float64); the saturation thresholds "
                   "are computed for it")
    p.add_argument("--eps", type=unit_interval, default=None,
                   help="leak per token, a number in (0, 1): a leaky counter instead of the "
                   "exact one; required for gru (no GRU counts exactly)")
    declare_paths(p, output_files=("out",))
    p.set_defaults(func=run)


def run(args) -> int:
    from constructions.affine import nested_failure_depth
    from constructions.builders import exact_counter, leaky_counter, mismatched_relu
    from counting.checkpoint import save_checkpoint

    if args.cell == "gru" and args.eps is None:
        raise ValueError("a GRU cannot count exactly: give --eps E for the leaky GRU counter "
                         "(update gate z = 1 - E)")
    if args.eps is None:
        model = exact_counter(args.cell, args.dtype)
    elif args.cell == "relu":
        model = mismatched_relu(w_hh=1.0 - args.eps, dtype=args.dtype)
    else:
        model = leaky_counter(args.cell, args.eps, args.dtype)
    meta = dict(model.construction)
    save_checkpoint(model, args.out, meta=meta)
    D = nested_failure_depth(model)
    depth = "beyond 2^53" if D is None else f"{D - 1:,}"
    print(f"wrote {args.out}: {meta['construction']} {args.cell} counter ({args.dtype}); "
          f"maximum correct nesting depth {depth}")
    return 0
