"""`counting diagnose CKPT [--data DIR] [--out DIR] [--json FILE]`: why does this model fail?"""

from __future__ import annotations

from pathlib import Path

from counting.checkpoint import load_checkpoint
from counting.fileformat import write_json_atomic, write_text_atomic
from counting.paths import declare_paths


def register(sub) -> None:
    p = sub.add_parser(
        "diagnose", help="probe one model against its exact construction",
        description="Trace a checkpoint token by token on the probe sets (zigzag, nested, "
        "very long): increments/decrements by depth, drift, gate saturation, and the class of "
        "each sequence's first failure (early, at-zero, depth-dependent, other); and the worst "
        "case over every Dyck word up to 1000 tokens (as `counting verify`). Prints a summary; "
        "writes PNG plots, summary.txt and "
        "diagnosis.json with --out.")
    p.add_argument("checkpoint", metavar="CKPT",
                   help="a checkpoint file (format counting-rnns/1): best.pt or "
                   "checkpoints/epoch_NN.pt of a run, or one written by `counting construct`")
    p.add_argument("--data", default=None,
                   help="directory written by `counting data`: probe on its zigzag.txt and "
                   "very_long.txt (plus generated nested words); default: probe sets generated "
                   "from a fixed seed")
    p.add_argument("--out", default=None,
                   help="directory to write the PNG plots, summary.txt and diagnosis.json to")
    p.add_argument("--json", dest="json_out", metavar="FILE", default=None,
                   help="also write the JSON report to this file")
    declare_paths(p, input_files=("checkpoint",), input_dirs=("data",), output_dirs=("out",),
                  output_files=("json_out",))
    p.set_defaults(func=run)


def run(args) -> int:
    from probes.probesets import load_probe_sets
    from probes.report import diagnose, text_summary

    model, meta = load_checkpoint(args.checkpoint)
    sets = load_probe_sets(args.data) if args.data else None
    if model.hidden_size == 1:
        from counting.jit.warmup import warm_cells

        warm_cells()  # the traces run in counting.unrolled's kernels
    from probes.worstcase.warmup import warm_verify

    warm_verify()  # the worst_case key runs verify's kernels
    rep = diagnose(model, sets, out_dir=args.out, progress=True)
    rep["checkpoint"] = str(args.checkpoint)
    if "epoch" in meta:
        rep["epoch"] = meta["epoch"]
    text = text_summary(rep)
    print(text)
    if args.out:
        out = Path(args.out)
        write_text_atomic(out / "summary.txt", text + "\n")
        write_json_atomic(out / "diagnosis.json", rep)
        print(f"wrote {out}/: {', '.join(rep['plots'])}, summary.txt, diagnosis.json")
    if args.json_out:
        write_json_atomic(args.json_out, rep)
    return 0
