"""`counting verify CKPT [--max-length N] [--json FILE]`: the worst case over all Dyck words."""

from __future__ import annotations

from counting.options import int_in
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "verify", help="certified length and shortest failing word over all Dyck words",
        description="Consider every Dyck word of length <= N and every token of it: print "
        "the largest length up to which the model is right on every word (a certificate, "
        "sound for the model as torch computes it) and a shortest word it gets wrong "
        "(replayed on the torch module). See docs/verify.md.")
    p.add_argument("checkpoint", metavar="CKPT",
                   help="checkpoint to verify (as `counting train` or `construct` writes)")
    p.add_argument("--max-length", type=int_in(2), default=1000, metavar="N",
                   help="longest words considered (default 1000; at most 100000 for hidden "
                   "size 1, 10000 otherwise)")
    p.add_argument("--json", dest="json_out", default=None, metavar="FILE",
                   help="write the result as JSON here")
    declare_paths(p, input_files=("checkpoint",), output_files=("json_out",))
    p.set_defaults(func=run)


def run(args) -> int:
    from counting.checkpoint import load_checkpoint
    from counting.fileformat import write_json_atomic
    from probes.worstcase import summary_line, verify
    from probes.worstcase.limits import check_max_length

    model, _ = load_checkpoint(args.checkpoint)
    check_max_length(model, args.max_length)
    from probes.worstcase.warmup import warm_verify

    warm_verify()  # before the bar starts, so that its ETA is honest
    result = verify(model, args.max_length, progress=True)
    print(f"{args.checkpoint}: {model.cell}, hidden size {model.hidden_size}, "
          f"{result['dtype']}; Dyck words up to {args.max_length} tokens")
    print(summary_line(result))
    print(f"method {result['method']}; {result['states']:,} states in "
          f"{result['seconds']:.2f} s")
    if args.json_out:
        write_json_atomic(args.json_out, result)
        print(f"wrote {args.json_out}")
    return 0
