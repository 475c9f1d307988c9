"""The command line: ``python -m bench <command>`` (``python -m bench <command> --help`` for its options).

The parser and the dispatch of every command; the command bodies live beside it in
:mod:`bench.cli` and call downward (run, report, gate, analysis, metrics, data).
"""

from __future__ import annotations

import argparse
import sys

from bench.cli.args import checked_detector_args
from bench.cli.evaluate import cmd_eval
from bench.cli.parsing import Parser, examples, json_or_text, print_json
from bench.errors import ArgumentError, InputError

def cmd_synth(args) -> int:
    from bench.data.synthetic import SyntheticSpec, write

    path = write(SyntheticSpec(layout=args.layout, seed=args.seed, num_images=args.num_images), args.out, images=not args.no_images)
    print(path)
    return 0


def cmd_all(args) -> int:
    from bench.cli.run_all import run_all

    return run_all(args)


def cmd_list(args) -> int:
    from bench.cli.listing import format_list, list_rows

    rows = list_rows()
    if args.json:
        print_json(rows)
    else:
        print(format_list(rows))
    return 0


def add_settings(p: argparse.ArgumentParser, detector_args: bool = True, decode: bool = True) -> None:
    """Evaluation settings shared by run, all and speed (recorded in every result)."""
    p.add_argument("--max-detections", type=int, metavar="N",
                   help="detections kept per image (default: the protocol's, COCO/VOC 100, LVIS 300; ultralytics' "
                        "`yolo val` uses 300)")  # fmt: skip
    p.add_argument("--score-threshold", type=float, default=0.001, metavar="S",
                   help="drop detections scoring below S before evaluation (default 0.001; higher values cut the PR curve)")
    p.add_argument("--nms-iou", type=float, metavar="T", help="NMS IoU threshold where the detector runs NMS (default: its project's own)")
    if decode:
        p.add_argument("--decode", choices=["cpu", "device"], default="cpu",
                       help="where the accuracy pass decodes JPEGs: cpu (PIL, in loader workers; default) or device "
                            "(torchvision.io.decode_jpeg on --device: nvJPEG on CUDA, whose pixels can differ slightly; recorded)")
    if detector_args:
        p.add_argument("--detector-arg", action="append", default=[], metavar="KEY=VALUE",
                       help="adapter option (repeatable); the keys each family accepts are listed below")


def _run_dir(arg: str | None):
    from pathlib import Path

    from bench.store import latest_run

    run = Path(arg) if arg else latest_run(Path("runs"))
    if run is None or not (run / "run.json").exists():
        raise FileNotFoundError(f"no run found at {arg or 'runs/'} (a run folder holds run.json: runs/<run-id>)")
    return run


def cmd_speed(args) -> int:
    from bench.cli.run import speed

    return speed(args)


def cmd_run(args) -> int:
    from bench.cli.run import run

    return run(args)


def cmd_download(args) -> int:
    from bench.data.catalog import cache_dir, yaml_entries
    from bench.data.download import DownloadError, download

    entries = yaml_entries()
    from bench.run.suites import download_suite, is_suite

    if is_suite(args.name):
        try:
            for folder in download_suite(args.name, cache_dir(args.cache), args.accept_unverified):
                print(f"{folder.name}: ready in {folder}")
        except DownloadError as e:
            print(f"error: {e}", file=sys.stderr)
            return 1
        return 0
    if args.name not in entries:
        raise KeyError(f"unknown dataset {args.name!r}; downloadable: {', '.join(n for n, e in entries.items() if e.get('download'))}")
    try:
        folder = download(args.name, entries[args.name], cache_dir(args.cache), args.accept_unverified)
    except DownloadError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(f"{args.name}: ready in {folder}")
    return 0


def cmd_refexp(args) -> int:
    from bench.run.refexp import cmd_refexp as refexp

    return refexp(args, checked_detector_args(args.detector, args.detector_arg))


def cmd_report(args) -> int:
    from pathlib import Path

    from bench.report.render import render_compare, render_run

    if args.compare:
        from bench.cli.gate import verdict
        from bench.gate.check import compare, make_baseline

        a, b = (_run_dir(x) for x in args.compare)
        out = render_compare(a, b, Path(args.out or Path("reports") / f"compare-{a.name}-vs-{b.name}"))
        print(f"wrote {out}")
        return verdict(compare(make_baseline(a), b, 0.005, 0.10))  # render_compare's tolerances
    run = _run_dir(args.run)  # default: the latest run, as check and baseline
    out = render_run(run, Path(args.out or Path("reports") / run.name))
    print(f"wrote {out}")
    return 0


def cmd_baseline(args) -> int:
    from bench.gate.check import write_baseline

    base = write_baseline(_run_dir(args.run), args.out)
    if args.keep_predictions:  # for bench check --significance (bench.gate.statistical)
        from bench.gate.statistical import keep_predictions

        base = keep_predictions(_run_dir(args.run), args.out)
    print(f"wrote {args.out}: {len(base['units'])} units")
    return 0


def cmd_check(args) -> int:
    from bench.cli.analysis import check_check_arguments
    from bench.cli.gate import rows_json, verdict
    from bench.gate.check import compare

    check_check_arguments(args)
    rows = compare(args.baseline, _run_dir(args.run), args.ap_tol / 100.0, args.speed_tol)
    with json_or_text(args.json):
        if args.significance is not None:  # statistical mode (bench.gate.statistical)
            from bench.cli.analysis import describe
            from bench.gate.statistical import statistical_rows

            rows = statistical_rows(rows, args.baseline, _run_dir(args.run), args.significance, args.min_effect / 100.0, args.resamples, args.seed)
            print(describe(args))
        code = verdict(rows)
    if args.json:
        print_json(rows_json(rows, args))
    return code


def build_parser() -> argparse.ArgumentParser:
    from bench import __version__

    parser = Parser(prog="python -m bench", description="detbench: score, time and compare object detectors.",
                    epilog="python -m bench <command> --help shows a command's options and examples.",
                    formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=14, width=160))  # fmt: skip
    parser.add_argument("--version", action="version", version=f"detbench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, title="commands", metavar="<command>")
    mini = "bench/data/embedded/coco_val2017_mini/instances_val2017_mini.json"

    ev = sub.add_parser("eval", help="score a results file against ground truth", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples(f"python -m bench eval --gt {mini} --results results.json",
                                        f"python -m bench eval --gt {mini} --results results.json --format pycocotools",
                                        "python -m bench eval --gt VOCdevkit/VOC2007 --results comp4_dir/ --protocol voc07 --json"))  # fmt: skip
    ev.add_argument("--gt", required=True, help="COCO JSON, LVIS JSON, or a VOCdevkit year folder")
    ev.add_argument("--results", required=True, help="COCO results JSON, or (VOC) a folder of comp4_det_<split>_<class>.txt")
    ev.add_argument("--protocol", choices=["coco", "lvis", "voc07", "voc12", "ov-coco", "ov-lvis"], help="default: from the ground truth's format")
    ev.add_argument("--split", help="VOC: the ImageSets/Main list (default test, or val without a test list)")
    ev.add_argument("--iou-type", choices=["bbox", "segm", "boundary"], default="bbox",
                    help="bbox (default) or segm: mask AP from both files' 'segmentation' (COCOeval iouType='segm'); "
                         "boundary: Boundary AP (boundary-iou-api, dilation ratio 0.02)")
    ev.add_argument("--out", help="write metrics JSON here")
    ev.add_argument("--curves", action="store_true", help="include PR curves at IoU 0.5 and 0.75 in --out")
    ev.add_argument("--json", action="store_true", help="print the --out document on stdout (the text goes to stderr)")
    ev.add_argument("--format", choices=["text", "pycocotools"], default="text",
                    help="pycocotools: the 12 lines of COCOeval.summarize(), character for character (coco protocol)")
    from bench.cli.analysis import add_eval_arguments

    add_eval_arguments(ev)
    ev.set_defaults(func=cmd_eval)

    sy = sub.add_parser("synth", help="write the built-in synthetic dataset", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench synth --out /tmp/synth", "python -m bench synth --layout voc --out /tmp/voc"))
    sy.add_argument("--layout", choices=["coco", "lvis", "voc"], default="coco")
    sy.add_argument("--seed", type=int, default=0)
    sy.add_argument("--num-images", type=int, default=48)
    sy.add_argument("--out", required=True)
    sy.add_argument("--no-images", action="store_true", help="annotations only")
    sy.set_defaults(func=cmd_synth)

    al = sub.add_parser("all", help="run every registered detector on every available dataset", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench all", "python -m bench all --detectors yolox_nano,nanodet_m",
                                        "python -m bench all --full --device cuda", "python -m bench all --resume RUN_ID"))  # fmt: skip
    al.add_argument("--out", default="runs", help="where runs are stored")
    al.add_argument("--cache", default=None, help="dataset cache folder (default ~/.cache/detbench)")
    al.add_argument("--detectors", help="comma-separated registry names (default: all)")
    al.add_argument("--datasets", help="comma-separated dataset names (default: the present datasets.yaml entries: the embedded real coco-val2017-mini, plus downloaded ones)")
    al.add_argument("--device", default="cpu")
    al.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    al.add_argument("--batch-size", type=int, help="accuracy pass (default: 1 on CPU; on CUDA chosen per unit from memory, 1 where "
                    "batching is not proven to leave predictions unchanged; recorded as accuracy_batch)")
    al.add_argument("--max-images", type=int)
    al.add_argument("--weights", help="weights for every detector (e.g. random)")
    add_settings(al, detector_args=False)
    prof = al.add_mutually_exclusive_group()
    prof.add_argument("--quick", action="store_true", help="small image subset, short timing (default)")
    prof.add_argument("--full", action="store_true", help="every image, longer timing")
    al.add_argument("--reports", default="reports", help="where the HTML report goes (reports/<run-id>/)")
    al.add_argument("--resume", metavar="RUN_ID", help="continue a run: redo only what is missing or changed")
    al.add_argument("--iou-type", choices=["bbox", "segm"], help="bbox: box AP only; segm: box and mask AP, only detectors with masks "
                    "(default: box AP, and mask AP where the dataset and the detector have masks)")
    al.set_defaults(func=cmd_all)

    from detectors.options import help_text

    rn = sub.add_parser("run", help="one detector on one dataset (registered, or your own COCO/LVIS json or VOC folder)",
                        epilog=help_text() + "\n\n" + examples(
                            "python -m bench run --detector yolox_nano --dataset coco-val2017-mini",
                            "python -m bench run --detector onnx --weights model.onnx --gt my/instances.json --images my/images",
                            "python -m bench run --detector yolox_nano --dataset coco-val2017-mini --max-images 30"),
                        formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    rn.add_argument("--detector", required=True, help="registry name (python -m bench list)")
    rn.add_argument("--weights", help="default: the official pretrained weights (or the embedded file); 'random'; or a local file / folder")
    rn.add_argument("--dataset", help="a built-in or datasets.yaml name (e.g. coco-val2017-mini)")
    rn.add_argument("--gt", help="your ground truth: COCO/LVIS JSON or a VOCdevkit year folder (with --images)")
    rn.add_argument("--images", help="the image folder of --gt")
    rn.add_argument("--protocol", choices=["coco", "lvis", "voc07", "voc12", "ov-coco", "ov-lvis"], help="default: from the ground truth's format")
    rn.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    rn.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    rn.add_argument("--batch-size", type=int, default=1, help="images per forward pass in the accuracy pass (default 1)")
    rn.add_argument("--max-images", type=int, help="score only the first N images (the record says so)")
    rn.add_argument("--out", default="runs", help="where runs are stored (runs/<run-id>/...)")
    rn.add_argument("--prompts", metavar="FILE.yaml", help="open vocabulary: a prompt set (templates, synonyms, separators, class score rule)")
    rn.add_argument("--prompt-template", metavar="TEXT", help="open vocabulary: one template with '{}' for the class name, e.g. 'a photo of a {}'")
    rn.add_argument("--training-regime", choices=["zero-shot", "open-vocabulary", "fine-tuned", "partial-label"],
                    help="what the detector saw in training, recorded and shown in the leaderboard (default: the registry's, or unknown)")
    rn.add_argument("--iou-type", choices=["bbox", "segm"], help="bbox: box AP only; segm: box and mask AP, an error without masks "
                    "on both sides (default: box AP, and mask AP where the dataset and the detector have masks)")
    add_settings(rn)
    rn.set_defaults(func=cmd_run)

    dl = sub.add_parser("download", help="fetch a datasets.yaml dataset: resumable, checksummed", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench download coco-val2017"))
    dl.add_argument("name")
    dl.add_argument("--cache", default=None)
    dl.add_argument("--accept-unverified", action="store_true", help="allow files without a recorded sha256")
    dl.set_defaults(func=cmd_download)

    rp = sub.add_parser("report", help="render a run's records as HTML (+ leaderboard CSV/MD); no GPU or model needed",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench report", "python -m bench report runs/RUN_ID --out /tmp/report",
                                        "python -m bench report --compare runs/RUN_A runs/RUN_B"))  # fmt: skip
    rp.add_argument("run", nargs="?", help="runs/<run-id> (default: the latest under runs/)")
    rp.add_argument("--out", help="default reports/<run-id>")
    rp.add_argument("--compare", nargs=2, metavar=("RUN_A", "RUN_B"),
                    help="per-metric deltas of RUN_B against RUN_A, printed with check's verdict (exit 1 on a regression)")
    rp.set_defaults(func=cmd_report)

    bl = sub.add_parser("baseline", help="write a CI baseline from a run", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench baseline --out baseline.json", "python -m bench baseline --run runs/RUN_ID --out baseline.json --keep-predictions"))  # fmt: skip
    bl.add_argument("--run", help="run folder (default: the latest under runs/)")
    bl.add_argument("--out", required=True)
    bl.add_argument("--keep-predictions", action="store_true", help="copy each unit's predictions next to the baseline (for check --significance)")
    bl.set_defaults(func=cmd_baseline)

    ck = sub.add_parser("check", help="compare a run with a baseline; exit 1 on a regression", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench check --baseline tests/baselines/coco-val2017-mini.json",
                                        "python -m bench check --baseline baseline.json --run runs/RUN_ID --json",
                                        "python -m bench check --baseline baseline.json --significance 0.05"))  # fmt: skip
    ck.add_argument("--baseline", required=True)
    ck.add_argument("--run", help="run folder (default: the latest under runs/)")
    ck.add_argument("--ap-tol", type=float, default=0.5, help="AP points (default 0.5)")
    ck.add_argument("--speed-tol", type=float, default=0.10,
                    help="relative, on the single-stream p50; a regression also needs the 95%% intervals apart (docs/speed-scenarios.md)")
    ck.add_argument("--json", action="store_true", help="print the rows and the verdict as JSON on stdout (the table goes to stderr)")
    from bench.cli.analysis import add_check_arguments

    add_check_arguments(ck)
    ck.set_defaults(func=cmd_check)

    sp = sub.add_parser("speed", help="latency and throughput of one detector", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench speed --detector yolox_nano",
                                        "python -m bench speed --detector rtdetr_r18vd --device cuda --dtype fp16 --batch-sizes 1,8,32"))  # fmt: skip
    sp.add_argument("--detector", required=True)
    sp.add_argument("--dataset", default="coco-val2017-mini", help="a datasets.yaml name (default: the embedded real coco-val2017-mini) or synthetic-coco|lvis|voc")
    sp.add_argument("--weights", help="pretrained (default), random, or a local file / folder")
    add_settings(sp, decode=False)
    sp.add_argument("--batch-sizes", help="comma-separated (default 1,8,32 on CUDA, 1 on CPU); an OOM at one is recorded and the next runs")
    sp.add_argument("--device", default="cpu")
    sp.add_argument("--dtype", choices=["fp32", "fp16", "bf16"], default="fp32")
    sp.add_argument("--channels-last", action="store_true")
    sp.add_argument("--compile", action="store_true", help="torch.compile (compile time reported apart)")
    sp.add_argument("--cuda-graphs", action="store_true", help="replay the forward as a CUDA graph (static shapes; use --fixed-size)")
    bound = sp.add_mutually_exclusive_group()
    bound.add_argument("--iters", type=int, help="timed iterations per batch size (default 50 on CUDA)")
    bound.add_argument("--seconds", type=float, help="time budget per batch size (default 5 s on CPU)")
    sp.add_argument("--fixed-size", help="resize every image to HxW (default: natural sizes)")
    sp.add_argument("--max-images", type=int, default=8, help="images used for timing and accuracy")
    sp.add_argument("--scenarios", default="single-stream,offline",
                    help="MLPerf-style scenarios, comma-separated: single-stream, offline, server, or none (docs/speed-scenarios.md)")
    sp.add_argument("--interval-width", type=float, default=0.10, help="single-stream: sample until the 95%% interval of p90 is within this share of it")
    sp.add_argument("--latency-bound-ms", type=float, default=100.0, help="server: the p99 latency bound a rate must meet")
    sp.add_argument("--against", metavar="WEIGHTS", help="A/B: time --weights (the candidate) interleaved with these baseline weights "
                    "in one process and judge it as the speed gate does (exit 1 on a regression; docs/speed-scenarios.md)")
    sp.add_argument("--rounds", type=int, default=10, help="--against: interleaved rounds (at least 6 for a 95%% interval)")
    sp.add_argument("--per-round", type=int, default=5, help="--against: single images per side per round")
    sp.add_argument("--speed-tol", type=float, default=0.10, help="--against: a regression is more than this share slower (default 0.10)")
    sp.add_argument("--out", help="record JSON path (default runs/speed/<detector>-<dtype>-<time>.json)")
    sp.set_defaults(func=cmd_speed)

    from bench.cli.explain import add_explain_parser

    add_explain_parser(sub)
    rx = sub.add_parser("refexp", help="referring expressions: top-1 accuracy at IoU >= 0.5 of an open-vocabulary detector",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench refexp --detector grounding_dino_tiny --gt refcoco_val.json --images coco/train2014"))  # fmt: skip
    rx.add_argument("--detector", required=True)
    rx.add_argument("--gt", required=True, help="COCO-style JSON, one images[] record per expression (caption) with its referred box(es)")
    rx.add_argument("--images", required=True)
    rx.add_argument("--weights")
    rx.add_argument("--device", default="cpu")
    rx.add_argument("--max-images", type=int, help="the first N expressions")
    rx.add_argument("--prompt-template", metavar="TEXT")
    rx.add_argument("--detector-arg", action="append", default=[], metavar="KEY=VALUE")
    rx.add_argument("--out")
    rx.set_defaults(func=cmd_refexp)

    dr = sub.add_parser("doctor", help="which preprocessing (colour order, scale, mean/std, letterbox) gives an export plausible "
                        "detections: each variant scored on a few real images; advice, nothing applied",
                        formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench doctor --detector yolox_nano",
                                        "python -m bench doctor --detector onnx --weights my_export.onnx --images 6"))  # fmt: skip
    dr.add_argument("--detector", required=True, help="registry name, e.g. onnx (with --weights) or yolox_nano")
    dr.add_argument("--weights", help="the model file (default: the registry's)")
    dr.add_argument("--dataset", default="coco-val2017-mini", help="real images with ground truth (default coco-val2017-mini)")
    dr.add_argument("--images", type=int, default=8, help="how many images with ground truth to try each variant on (default 8)")
    dr.add_argument("--detector-arg", action="append", default=[], metavar="KEY=VALUE", help="adapter option kept in every variant")
    dr.set_defaults(func=cmd_doctor)

    ls = sub.add_parser("list", help="list registered detectors and whether they can run here", formatter_class=argparse.RawDescriptionHelpFormatter,
                        epilog=examples("python -m bench list", "python -m bench list --json"))
    ls.add_argument("--json", action="store_true", help="the rows as JSON on stdout")
    ls.set_defaults(func=cmd_list)
    return parser


def cmd_doctor(args) -> int:
    from bench.run.doctor import run_doctor

    if args.images < 1:
        raise ArgumentError(f"--images must be >= 1, got {args.images}")
    found, text = run_doctor(args.detector, args.dataset, args.images, args.weights, checked_detector_args(args.detector, args.detector_arg))
    print(text)
    return 0 if any(v.plausible for v in found) else 1


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, ArgumentError, KeyError, FileNotFoundError) as err:
        print(f"error: {err.args[0] if isinstance(err, KeyError) else err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
