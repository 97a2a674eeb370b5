"""`counting construct --cell lstm|relu|gru --out model.pt [--dtype float32|float64] [--eps E]
[--hidden-size H]`: write a hand-built counter as an ordinary checkpoint (format counting-rnns/1).
With H > 1 the counter is unit 0 and the other units are inert (`constructions.builders`)."""

from __future__ import annotations

from counting.models import CELLS
from counting.options import int_in, unit_interval
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "construct", help="write a hand-built counter as a checkpoint",
        description="Write an exact counter (lstm, relu) or, with --eps, a leaky one (lstm: "
        "forget gate 1 - E; gru: update gate 1 - E, the best a GRU can do; relu: W_hh = 1 - E) "
        "as an ordinary checkpoint that `counting eval` and `counting diagnose` read.")
    p.add_argument("--cell", choices=CELLS, required=True,
                   help="the cell to build: lstm and relu count exactly; gru needs --eps")
    p.add_argument("--out", required=True, help="checkpoint file to write (e.g. model.pt)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64",
                   help="floating-point type (default float64); the saturation thresholds "
                   "are computed for it")
    p.add_argument("--eps", type=unit_interval, default=None,
                   help="leak per token, a number in (0, 1): a leaky counter instead of the "
                   "exact one; required for gru (no GRU counts exactly)")
    p.add_argument("--hidden-size", type=int_in(1, 8), default=1,
                   help="hidden units, 1-8 (default 1): the counter in unit 0, the other units "
                   "inert (all their weights 0)")
    declare_paths(p, output_files=("out",))
    p.set_defaults(func=run)


def run(args) -> int:
    from constructions.affine import nested_failure_depth
    from constructions.builders import exact_counter, leaky_counter, mismatched_relu
    from counting.checkpoint import save_checkpoint

    if args.cell == "gru" and args.eps is None:
        raise ValueError("a GRU cannot count exactly: give --eps E for the leaky GRU counter "
                         "(update gate z = 1 - E)")
    def build(hidden_size: int):
        if args.eps is None:
            return exact_counter(args.cell, args.dtype, hidden_size=hidden_size)
        if args.cell == "relu":
            return mismatched_relu(w_hh=1.0 - args.eps, dtype=args.dtype,
                                   hidden_size=hidden_size)
        return leaky_counter(args.cell, args.eps, args.dtype, hidden_size=hidden_size)

    H = args.hidden_size
    model = build(H)
    meta = dict(model.construction)
    save_checkpoint(model, args.out, meta=meta)
    # units 1..H-1 are inert: unit 0 and the outputs are the hidden-size-1 counter's
    D = nested_failure_depth(model if H == 1 else build(1))
    depth = "beyond 2^53" if D is None else f"{D - 1:,}"
    units = "" if H == 1 else f", hidden size {H}: counter in unit 0, the others inert"
    print(f"wrote {args.out}: {meta['construction']} {args.cell} counter ({args.dtype}"
          f"{units}); maximum correct nesting depth {depth}")
    return 0
