"""`counting repair CKPT --out FIXED.pt [--json FILE] [--data DIR] [--max-length N]`: the
nearest exact counter to a trained model (`constructions.repair`), checked by `verify`."""

from __future__ import annotations

from counting.options import int_in
from counting.paths import declare_paths

DEFAULT_MAX_LENGTH = 10_000


def register(sub) -> None:
    p = sub.add_parser(
        "repair", help="snap a trained LSTM/ReLU onto the exact-counter conditions",
        description="The paper's 'targeted discretization': move each weight of CKPT the "
        "least it takes to meet the exact-counting conditions (equal increments and "
        "decrements, saturated gates, the readout threshold between depth 0 and 1), keeping "
        "the sign and scale of the model's counter and its readout. Reports every "
        "parameter's change and the worst case (`counting verify`) before and after. A GRU, "
        "or a model without an identifiable counter, is refused with the reason.")
    p.add_argument("checkpoint", metavar="CKPT", help="checkpoint of a trained model")
    p.add_argument("--out", required=True, help="checkpoint file to write the repaired model to")
    p.add_argument("--json", dest="json_out", default=None,
                   help="write the report (changes, counter, verify before/after) here")
    p.add_argument("--data", default=None,
                   help="directory written by `counting data`: also report the accuracy on "
                   "its train and validation sets before and after")
    p.add_argument("--max-length", type=int_in(2), default=DEFAULT_MAX_LENGTH,
                   help=f"verify every Dyck word up to this length (default "
                   f"{DEFAULT_MAX_LENGTH:,})")
    declare_paths(p, input_files=("checkpoint",), input_dirs=("data",),
                  output_files=("out", "json_out"))
    p.set_defaults(func=run)


def run(args) -> int:
    from constructions.repair import repair
    from counting.checkpoint import load_checkpoint, save_checkpoint
    from counting.fileformat import write_json_atomic
    from probes import verify

    model, meta = load_checkpoint(args.checkpoint)
    sets = None
    if args.data:
        from counting.datasets import load_datasets

        sets = load_datasets(args.data, ("train", "validation"),
                             required=("train", "validation"))
    from probes.worstcase.warmup import warm_verify

    warm_verify()  # before the bars of verify before and after
    fixed = repair(model)
    report = fixed.summary()
    report["checkpoint"] = str(args.checkpoint)
    report["verify_before"] = verify(model, max_length=args.max_length, progress=True)
    report["verify_after"] = verify(fixed.model, max_length=args.max_length, progress=True)
    if sets:
        from counting.metrics import evaluate

        report["accuracy"] = {name: {"before": evaluate(model, seqs)["accuracy"],
                                     "after": evaluate(fixed.model, seqs)["accuracy"]}
                              for name, seqs in sets.items()}
    save_checkpoint(fixed.model, args.out,
                    {**meta, "repaired_from": str(args.checkpoint),
                     "repair": {k: report[k] for k in ("method", "counter", "max_abs_change",
                                                      "l2_change")}})
    print(text_summary(report))
    print(f"wrote {args.out}")
    if args.json_out:
        write_json_atomic(args.json_out, report)
    return 0


def _worst(v: dict) -> str:
    f = v["shortest_failure"]
    head = f"right on every Dyck word up to length {v['certified_length']:,}"
    if f is None:
        return head + f" (all words up to {v['max_length']:,} checked)"
    return head + f"; fails on a word of {f['length']} tokens ({f['run_length']})"


def text_summary(report: dict) -> str:
    c = report["counter"]
    changed = [r for r in report["changes"] if r["abs"] > 0]
    lines = [
        f"repaired {report['cell']} ({report['dtype']}): counter {c['variable']}, sign "
        f"{c['sign']:+.0f}, step {c['step_before']:.6g} -> {c['step_after']:g}",
        f"{len(changed)} of {len(report['changes'])} weights changed; largest change "
        f"{report['max_abs_change']:.4g}, L2 {report['l2_change']:.4g}",
        f"before: {_worst(report['verify_before'])}",
        f"after:  {_worst(report['verify_after'])}",
    ]
    for name, acc in report.get("accuracy", {}).items():
        lines.append(f"{name} accuracy: {acc['before']:.2f}% -> {acc['after']:.2f}%")
    lines += report["notes"]
    return "\n".join(lines)
