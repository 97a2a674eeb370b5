"""`counting construct --cell lstm|relu|gru --out model.pt [--dtype float32|float64] [--eps E]`:
write a hand-built counter as an ordinary checkpoint (format counting-rnns/1)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "construct", help="write a hand-built counter as a checkpoint",
        description="Write an exact counter (lstm, relu) or, with --eps, a leaky one (lstm: "
        "forget gate 1 - E; gru: update gate 1 - E, the best a GRU can do; relu: W_hh = 1 - E) "
        "as an ordinary checkpoint that `counting eval` and `counting diagnose` read.")
    p.add_argument("--cell", choices=("lstm", "relu", "gru"), required=True)
    p.add_argument("--out", required=True, help="checkpoint file to write")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type (default float64)")
    p.add_argument("--eps", type=float, default=None,
                   help="leak per token, in (0, 1); required for gru (no GRU counts exactly)")
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
        if not 0.0 < args.eps < 1.0:
            raise ValueError(f"--eps must be in (0, 1), got {args.eps!r}")
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
