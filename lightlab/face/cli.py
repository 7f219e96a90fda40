"""The ``lightlab`` command: bench, train, data, zoo, doctor and sweep."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path


def _out_dir(path: str) -> Path:
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder (it is created if missing)")
    try:  # before any work: a run must not end by failing to write what it measured
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as err:
        raise ValueError(f"cannot write to --out {out} ({err.strerror}); give a folder you can write to") from err
    return out


def _out_file(path: str | Path, example: str) -> Path:
    """Return ``path`` for a file to be written at the end, after checking now that it can be written there."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"--out {path} is a folder; give a file such as {path / example}")
    if path.parent.exists() and not path.parent.is_dir():
        raise ValueError(f"cannot write to --out {path}: {path.parent} is a file, not a folder")
    _out_dir(str(path.parent))
    return path


def summary(report, large: str, small: str, country: str, metric: str = "accuracy", test=None) -> list[str]:
    """Return the essay's four reasons for small models, answered with this report's numbers (and ``test``, the
    paired test of the two models' accuracy, when given)."""

    def ratio(name: str) -> float:
        return report.value(large, name) / report.value(small, name)

    lines = [
        f"{metric.replace('_', ' ').capitalize()}: {large} {report.value(large, metric):.1f} %, {small} "
        f"{report.value(small, metric):.1f} %" + (f": {test.verdict}" if test is not None else ""),
        f"1. Speed: {small} answers {ratio('latency_p50_b1'):.0f}x faster at batch 1 "
        f"({report.value(small, 'latency_p50_b1'):.3f} vs {report.value(large, 'latency_p50_b1'):.3f} ms)",
    ]
    energy = [r for r in report.rows if r["metric"] == "energy_per_inference" and r["model"] == small]
    if energy and energy[0]["value"] == energy[0]["value"]:
        co2 = report.value(small, "co2e_per_inference") * 1e6
        lines.append(
            f"2. Energy, {energy[0]['method'].split()[0]}: {ratio('energy_per_inference'):.0f}x less per inference "
            f"({energy[0]['method']}); a million inferences emit {co2:.3g} g CO2e in {country}"
        )
    elif energy:
        lines.append(f"2. Energy: {energy[0]['method']}")
    lines += [
        f"3. Edge fit: {report.value(small, 'size') / 1e3:.1f} kB vs {report.value(large, 'size') / 1e3:.0f} kB"
        f" on disk ({ratio('size'):.0f}x smaller), peak memory "
        f"{report.value(small, 'peak_memory') / 1e3:.1f} vs {report.value(large, 'peak_memory') / 1e3:.0f} kB",
        f"4. Cost: {report.value(small, 'compute_s_per_million'):.2f} vs "
        f"{report.value(large, 'compute_s_per_million'):.1f} CPU-seconds per million inferences",
    ]
    disturbed = [f"{r['model']}/{r['metric']}" for r in report.disturbed()]
    if disturbed:
        lines.append(
            f"Warning: other processes loaded the CPU during {len(disturbed)} measurements "
            f"({', '.join(disturbed[:4])}{', ...' if len(disturbed) > 4 else ''}); see the note column "
            f"of bench.csv and rerun on a quiet machine before quoting these numbers"
        )
    return lines


def cmd_bench(args: argparse.Namespace) -> int:
    """Measure zoo models on a task, print a table and write bench.csv, bench.json and report.html."""
    if args.quick:
        os.environ["LIGHTLAB_QUICK"] = "1"
    import pandas as pd

    from lightlab.data import loaders
    from lightlab.face import bench_text, plots
    from lightlab.measurement import measure
    from lightlab.models import zoo

    stray = [f for f, v in (("--data", args.data), ("--input-shape", args.input_shape), ("--arch", args.arch)) if v]
    if stray and not args.model:
        raise ValueError(f"{stray[0]} describes your own model: give it with --model PATH (zoo models use --task)")
    out = _out_dir(args.out)
    start = time.perf_counter()
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    own_data = True
    if args.model:  # your own model files
        from lightlab.face import bench_own as own

        report, figures, names, own_data = own.bench(args)
        args.task = report.environment["data"]
    elif args.task == "text" or any(n.startswith(bench_text.LANGUAGE_MODELS) for n in names):
        report, figures = bench_text.bench(names, args)
    else:
        task = loaders.load(args.task)
        names = [zoo.resolve(n, args.task) for n in names]
        models = {n: zoo.pretrained(n) for n in names}
        report = measure.measure(models, task, energy=not args.no_energy, country=args.country, progress=True)
        figures = [plots.report_bars(report), plots.tradeoff(report)]
    report.environment["seconds"] = round(time.perf_counter() - start, 1)
    table = report.versus(names[0], models=names) if len(names) >= 2 else report.table()
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string())
    if args.model and not own_data:
        print(f"\nnote: {own.NO_DATA}")
    elif len(names) >= 2 and args.task != "text" and not args.model:
        from lightlab.measurement import stats

        test = stats.compare_models({n: models[n] for n in (names[0], names[-1])}, task)
        print("\n" + "\n".join(summary(report, names[0], names[-1], args.country, task.metric, test)))
    report.to_csv(out / "bench.csv")
    report.to_json(out / "bench.json")
    report.to_html(out / "report.html", title=f"lightlab bench: {args.task}", figures=figures)
    print(
        f"\nwrote {out / 'bench.csv'}, {out / 'bench.json'}, {out / 'report.html'} in {report.environment['seconds']} s"
    )
    return 0


def cmd_optimize(args: argparse.Namespace) -> int:
    """Apply one technique to your model: a deployable .onnx file and a before/after report in --out."""
    if args.quick:
        os.environ["LIGHTLAB_QUICK"] = "1"
    import pandas as pd

    from lightlab.face import optimize, plots

    out = _out_dir(args.out)
    report, path = optimize.optimize(args, out)
    metrics = ["accuracy", "size", "macs", "latency_p50_b1", "energy_per_inference", "energy_modelled_per_inference"]
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(report.versus("before", [m for m in metrics if m in {r["metric"] for r in report.rows}]).to_string())
    report.to_csv(out / "optimize.csv")
    report.to_json(out / "optimize.json")
    report.to_html(out / "report.html", title=f"lightlab optimize --to {args.to}", figures=[plots.report_bars(report)])
    print(f"\nwrote {path.name} (deployable, ONNX Runtime), optimize.csv, optimize.json, report.html to {out}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """Retrain a zoo model from its seed and write its safetensors weights."""
    from lightlab import config
    from lightlab.data import loaders
    from lightlab.models import zoo
    from lightlab.techniques import recipes
    from lightlab.techniques.train import evaluate

    if config.quick():
        print("note: LIGHTLAB_QUICK is on; the shipped weights were trained on the full split", file=sys.stderr)
    name = zoo.resolve(args.model, args.task)
    if zoo.spec(name).task != args.task:
        raise SystemExit(f"error: model {name!r} belongs to task {zoo.spec(name).task!r}, not {args.task!r}")
    path = _out_file(args.out or zoo.weights_path(name), f"{name}.safetensors")  # checked before training
    model, history = recipes.train_from_scratch(name, loaders.load(args.task))
    digest = zoo.save(model, path)
    print(
        f"{name}: {history.best_epoch + 1} epochs kept of {len(history.val_scores)}, "
        f"val {history.metric} {100 * history.best_val_score:.1f} %, "
        f"test {100 * evaluate(model, loaders.load(args.task)):.1f} %, "
        f"{history.seconds:.1f} s\nwrote {path}\nsha256 {digest}"
    )
    if digest != zoo.SHA256.get(name):
        print(
            f"note: differs from the shipped hash {zoo.SHA256.get(name) or '(none)'}; "
            f"update SHA256 in lightlab/models/zoo.py if you mean to ship it"
        )
    return 0


def cmd_data(_args: argparse.Namespace) -> int:
    """Print the tasks with their sizes."""
    from lightlab.data import loaders

    for name in loaders.names():
        task = loaders.load(name)
        shape = f"input {list(task.input_shape)}, {task.num_classes} classes, splits {task.sizes()}"
        print(f"{name:14s} {task.domain:11s} {shape}  {task.description}")
    return 0


def cmd_zoo(_args: argparse.Namespace) -> int:
    """Print the models with their parameter counts and weight status."""
    from lightlab.measurement.measure import count_params
    from lightlab.models import zoo

    for name in zoo.names():
        spec, params = zoo.spec(name), count_params(zoo.create(name))
        print(f"{name:14s} task {spec.task:8s} {params:>9,d} params  {spec.description}; {_weights_status(name)}")
    return 0


def _weights_status(name: str) -> str:
    """Return 'weights ok', or why the shipped weights of ``name`` cannot be used."""
    from lightlab.models import zoo

    try:
        zoo.check_weights(name)
    except zoo.WeightsError as err:
        return f"weights unusable: {err}"
    return "weights ok"


def cmd_doctor(_args: argparse.Namespace) -> int:
    """Run the environment self-check; exit 1 when a problem was found."""
    from lightlab.face.selfcheck import doctor as run

    return 0 if run().ok else 1


def _dask_client(address: str, workers: int | None):
    """Return a Dask client (and its LocalCluster, or None) for ``--dask local`` or ``--dask tcp://host:port``."""
    from distributed import Client, LocalCluster

    if address == "local":
        cluster = LocalCluster(
            n_workers=workers or os.cpu_count() or 1, threads_per_worker=1, processes=True, dashboard_address=None
        )
        return Client(cluster), cluster
    try:
        return Client(address, timeout="10s"), None
    except OSError as err:
        raise RuntimeError(
            f"cannot reach the Dask scheduler at {address} ({err}); start one with `dask scheduler` "
            f"and `dask worker {address}` on each machine, or use --dask local"
        ) from None


def cmd_sweep(args: argparse.Namespace) -> int:
    """Train a zoo model over many seeds, resumably, on local processes or Dask, and summarise the test scores."""
    import pandas as pd

    from lightlab.data import loaders
    from lightlab.measurement import sweep as sweeps
    from lightlab.models import zoo
    from lightlab.techniques import recipes

    if args.seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {args.seeds}")
    _out_file(args.out, "sweep.jsonl")
    name = zoo.resolve(args.model, args.task)
    if zoo.spec(name).task != args.task:
        raise ValueError(f"model {name!r} belongs to task {zoo.spec(name).task!r}, not {args.task!r}")
    metric = loaders.load(args.task).metric
    trials = [{"task": args.task, "model": name, "seed": seed, "epochs": args.epochs} for seed in range(args.seeds)]
    client, cluster = _dask_client(args.dask, args.workers) if args.dask else (None, None)
    try:
        result = sweeps.run(
            recipes.train_trial,
            trials,
            args.out,
            executor=client,
            workers=args.workers,
            retries=args.retries,
            rerun_failed=args.rerun_failed,
        )
    finally:
        for closable in (client, cluster):
            if closable is not None:
                closable.close()
    rows = [
        {
            "seed": r["params"]["seed"],
            "status": r["status"],
            f"val_{metric}": r.get("result", {}).get(f"val_{metric}"),
            f"test_{metric}": r.get("result", {}).get(f"test_{metric}"),
            "epochs": r.get("result", {}).get("epochs"),
            "seconds": r.get("seconds"),
            "worker": r.get("worker"),
            "error": r.get("error", ""),
        }
        for r in result.records
    ]
    table = pd.DataFrame(rows)
    if not table["error"].any():
        table = table.drop(columns="error")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    scores = table.loc[table["status"] == "ok", f"test_{metric}"].astype(float) * 100
    if len(scores):
        print(
            f"\ntest {metric}: {scores.mean():.2f} ± {scores.std(ddof=1) if len(scores) > 1 else 0:.2f} % "
            f"(mean ± std over {len(scores)} seeds; min {scores.min():.2f}, max {scores.max():.2f})"
        )
    print(f"{result}\nresults in {result.path}; run the same command again to resume after an interruption")
    return 0 if result.count("failed") == 0 else 1


def parser() -> argparse.ArgumentParser:
    """Return the argument parser of the ``lightlab`` command."""
    p = argparse.ArgumentParser(prog="lightlab", description="Teach and measure lightweight AI.")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("bench", help="compare models on a task: accuracy, size, speed, energy")
    b.add_argument("--task", default="digits", help="a task of `lightlab data`, or 'text' for language models")
    b.add_argument(
        "--models",
        default="large,small",
        help="comma-separated zoo names (short or full), or smollm2-135m and its variants such as smollm2-135m-int4",
    )
    b.add_argument(
        "--model",
        action="append",
        metavar="PATH",
        help="your own model (repeatable): .onnx, TorchScript, torch.export .pt2, weights with --arch, or "
        "module:factory; replaces --models",
    )
    b.add_argument("--arch", metavar="MODULE:FACTORY", help="a function that builds the model the weights belong to")
    b.add_argument("--data", metavar="PATH", help="your data: .npz with x and y, .csv with a y column, or a folder")
    b.add_argument("--input-shape", help="without --data: one input's shape, such as 3,32,32 (no accuracy)")
    b.add_argument("--quick", action="store_true", help="fewer repeats and shorter energy windows")
    b.add_argument("--out", default="bench-out", help="folder for bench.csv, bench.json, report.html")
    b.add_argument("--country", default="FRA", help="ISO-3 code for the grid's carbon intensity")
    b.add_argument("--no-energy", action="store_true", help="skip the CodeCarbon measurement")
    b.set_defaults(func=cmd_bench)
    o = sub.add_parser("optimize", help="apply int8, pruning or distillation to your model: a file and a report")
    o.add_argument("--model", required=True, metavar="PATH", help="your model, as for `lightlab bench --model`")
    o.add_argument("--arch", metavar="MODULE:FACTORY", help="builds the model the weights belong to")
    o.add_argument("--to", required=True, help="int8 (ONNX Runtime), pruned (structured, fine-tuned) or distilled")
    o.add_argument("--data", metavar="PATH", help="your data (.npz, .csv or an image folder); needed to train")
    o.add_argument("--input-shape", help="int8 without --data: calibrate on random inputs of this shape")
    o.add_argument("--student", metavar="MODULE:FACTORY", help="--to distilled: builds the smaller model")
    o.add_argument("--sparsity", type=float, default=0.5, help="--to pruned: share of channels removed per layer")
    o.add_argument("--epochs", type=int, help="fine-tuning (pruned) or training (distilled) epochs")
    o.add_argument("--out", default="optimize-out", help="folder for the .onnx file and the report")
    o.add_argument("--quick", action="store_true", help="fewer repeats and shorter energy windows")
    o.add_argument("--no-energy", action="store_true", help="skip the CodeCarbon measurement")
    o.set_defaults(func=cmd_optimize)
    t = sub.add_parser("train", help="retrain a zoo model from its seed")
    t.add_argument("--task", default="digits")
    t.add_argument("--model", required=True)
    t.add_argument("--out", help="weight file to write (default: the shipped location)")
    t.set_defaults(func=cmd_train)
    sub.add_parser("data", help="list the tasks").set_defaults(func=cmd_data)
    sub.add_parser("zoo", help="list the models").set_defaults(func=cmd_zoo)
    sub.add_parser("doctor", help="check this environment before class").set_defaults(func=cmd_doctor)
    w = sub.add_parser("sweep", help="train a zoo model over many seeds, resumably, locally or on a Dask cluster")
    w.add_argument("--task", default="digits")
    w.add_argument("--model", default="small", help="zoo name (short or full)")
    w.add_argument("--seeds", type=int, default=20, help="run seeds 0 .. N-1")
    w.add_argument("--epochs", type=int, help="epochs per trial (default: the zoo model's own)")
    w.add_argument("--out", default="sweep.jsonl", help="results file: one JSON line per finished trial")
    w.add_argument("--workers", type=int, help="local processes, or LocalCluster workers (default: one per core)")
    w.add_argument("--dask", help="'local' for a Dask LocalCluster, or a scheduler address such as tcp://host:8786")
    w.add_argument("--retries", type=int, default=1, help="reruns of a trial whose worker died")
    w.add_argument("--rerun-failed", action="store_true", help="run again the trials recorded as failed")
    w.set_defaults(func=cmd_sweep)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the ``lightlab`` command line."""
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (KeyError, ValueError, FileNotFoundError, RuntimeError) as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        print(f"error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: one line, not a traceback
        print(f"interrupted: lightlab {args.command} stopped before it finished", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
