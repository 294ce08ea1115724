"""Sphinx extension: the saved benchmark results as tables, rendered at build time.

The directive ::

    .. benchmark-results:: ../benchmarks/results/*.json

reads every JSON file the pattern matches (relative to the page; each is what
``pyx-cnn bench --out DIR`` or ``python benchmarks/run_benchmarks.py`` saves)
and writes, for each, a section named after the machine of the run: the kernel
table, and the training, digits-epoch, layer-operations and models (ResNet-18,
MobileNetV2) tables when the run holds them. The numbers are never copied into the pages by hand: save a new run
and rebuild.

A missing or malformed file is a build error.
"""
import glob
import json
import os
import sys

from docutils import nodes
from docutils.parsers.rst import Directive
from docutils.statemachine import StringList
from sphinx.util.nodes import nested_parse_with_titles

# times are written as the suite prints them: its own formatter
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "benchmarks"))
from suite import _fmt_time as fmt_time  # noqa: E402

ISA_NAMES = {"avx512f": "AVX-512", "avx2": "AVX2", "generic": "SSE2 (baseline)"}

KERNEL_PEERS = [("numpy", "numpy"), ("torch", "torch NCHW"), ("torch_cl", "torch NHWC"),
                ("tutorial", "tutorial loops")]


def fmt_ratio(ratio):
    digits = 0 if ratio >= 100 else (1 if ratio >= 10 else 2)
    return f"{ratio:.{digits}f}x"


def number(value):
    """A ratio or a target: three decimals below 10, whole numbers above."""
    return f"{value:.3f}" if value < 10 else f"{value:.0f}"


def machine_title(machine):
    """The machine of a run, in words: CPU, cores, the kernels' instruction set."""
    isa = ISA_NAMES.get(machine.get("kernel_isa"), machine.get("kernel_isa") or "?")
    cores = machine.get("cores")
    cores = f"{cores} core{'s' if cores != 1 else ''}" if cores else "cores unknown"
    return f"{machine.get('cpu') or 'unknown CPU'}, {cores}, {isa} kernels"


def list_table(header, rows):
    """A reStructuredText list-table."""
    def cell(text):   # a lone "-" would start a bullet list
        return "\\-" if text == "-" else text

    lines = [".. list-table::", "   :header-rows: 1", ""]
    for row in [header] + rows:
        lines.append(f"   * - {cell(row[0])}")
        lines += [f"     - {cell(text)}" for text in row[1:]]
    lines.append("")
    return lines


def kernel_lines(result):
    if not result["rows"]:     # a file of one benchmark (bench_contention.py's)
        return []
    rows = []
    for r in result["rows"]:
        s = r["seconds"]
        peers = []
        for key, _ in KERNEL_PEERS:
            t = s.get(key)
            peers.append("-" if t is None else f"{fmt_time(t)} ({fmt_ratio(t / s['pyx_cnn'])})")
        gf = r.get("gflops")
        pf = r.get("peak_fraction")
        rows.append([r["workload"], r["dtype"], str(r["threads"]), fmt_time(s["pyx_cnn"]),
                     "-" if gf is None else f"{gf:.1f}",
                     "-" if pf is None else f"{100 * pf:.0f}%"] + peers)
    header = ["workload", "dtype", "threads", "pyx_cnn", "GFLOP/s", "% peak"] + [
        name for _, name in KERNEL_PEERS]
    lines = list_table(header, rows)

    workloads = {}
    for r in result["rows"]:
        workloads.setdefault(r["workload"], r.get("description", ""))
    lines += ["Workloads:", ""]
    lines += [f"- **{name}**: {text}" for name, text in workloads.items()]
    lines.append("")

    peaks = result.get("peak_gflops") or {}
    if peaks:
        parts = [f"{n} thread{'s' if str(n) != '1' else ''}: float32 {p['float32']:.0f}, "
                 f"float64 {p['float64']:.0f} GFLOP/s" for n, p in peaks.items()]
        lines += ["Matmul peak of the run (the \"% peak\" reference): " + "; ".join(parts) + ".",
                  ""]

    targets = result.get("targets") or []
    if targets:
        lines += ["The suite's targets (each ratio as named: a peer's time over pyx_cnn's at "
                  "one thread, or pyx_cnn's one-thread time over its two-thread time):", ""]
        trows = []
        for t in targets:
            v = t.get("value")
            value = "-" if v is None else number(v)
            met = {True: "met", False: "not met", None: "not measured"}[t.get("met")]
            trows.append([f"{t['workload']} {t['dtype']}", t["what"], value,
                          f">= {number(t['threshold'])}", met])
        lines += list_table(["workload", "ratio", "value", "target", ""], trows)
    return lines


def training_lines(extra):
    rows = []
    names = {"lenet": "LeNet-5", "cifar": "CIFAR-style"}
    for r in extra["rows"]:
        rows.append([names.get(r["net"], r["net"]), r["task"], str(r["threads"]),
                     fmt_time(r["pyx_cnn_s"]), f"{r['images_per_s']:.0f}",
                     f"{r['gflops']:.1f}", f"{r['pct_peak']:.0f}%",
                     "-" if r.get("torch_s") is None else fmt_time(r["torch_s"]),
                     "-" if r.get("ratio") is None else fmt_ratio(r["ratio"]),
                     "-" if r.get("onnxruntime_s") is None else
                     f"{fmt_time(r['onnxruntime_s'])} ({fmt_ratio(r['onnxruntime_ratio'])})"])
    samples = {r.get("samples") for r in extra["rows"]} - {None}
    lines = []
    if samples:
        lines += [f"{', '.join(map(str, sorted(samples)))} images an epoch, float32, "
                  "batches of 64; \"train\" is an epoch, \"predict\" the same images (onnxruntime: "
                  "the model ``to_onnx`` writes, the same threads, spinning off).", ""]
    lines += list_table(["net", "task", "threads", "pyx_cnn", "images/s", "GFLOP/s",
                         "% matmul peak", "PyTorch", "PyTorch / pyx_cnn",
                         "onnxruntime (ratio)"], rows)
    return lines


def digits_lines(extra):
    return [
        f"{extra['batches_per_epoch']} batches of 32, {extra['dtype']}, "
        f"{extra['threads']} thread{'s' if extra['threads'] != 1 else ''}, "
        f"medians of {extra['repeats']} runs of {extra['epochs']} epochs:", "",
        *list_table(
            ["", "epoch", "test accuracy"],
            [["pyx_cnn", fmt_time(extra["pyx_cnn_epoch_s"]),
              f"{extra['pyx_cnn_accuracy']:.4f}"],
             [f"PyTorch {extra.get('torch_version', '')} (faster setting)",
              f"{fmt_time(extra['torch_epoch_s'])} ({fmt_ratio(extra['ratio'])})",
              f"{extra['torch_accuracy']:.4f}"]]),
    ]


def layer_ops_lines(extra):
    rows = []
    for key, times in extra["seconds"].items():
        op, threads = [part.strip() for part in key.rsplit(",", 1)]
        base = times["pyx_cnn"]
        cells = [op, threads, fmt_time(base)]
        for peer in ("torch NCHW", "torch channels_last"):
            t = times.get(peer)
            cells.append("-" if t is None else f"{fmt_time(t)} ({fmt_ratio(t / base)})")
        rows.append(cells)
    return list_table(["op (forward + backward)", "threads", "pyx_cnn", "PyTorch NCHW",
                       "PyTorch channels-last"], rows)


MODEL_NAMES = {"resnet18": "ResNet-18", "mobilenet_v2": "MobileNetV2"}


def models_lines(extra):
    """``bench_models.py``'s rows: a network, a task and a thread count per row."""
    def peer(row, key):
        seconds = row.get(f"{key}_s")
        if seconds is None:
            return "-"
        return f"{fmt_time(seconds)} ({fmt_ratio(row[f'{key}_ratio'])})"

    rows = [[MODEL_NAMES.get(r["net"], r["net"]), r["task"], str(r["threads"]),
             fmt_time(r["pyx_cnn_s"]), f"{r['images_per_s']:.0f}", peer(r, "torch"),
             peer(r, "onnxruntime")] for r in extra["rows"]]
    samples = sorted({r.get("samples") for r in extra["rows"]} - {None})
    lines = []
    if samples:
        lines += [f"{', '.join(map(str, samples))} images of 32x32x3, float32, batches of "
                  "64, the networks of :mod:`pyx_cnn.models`; \"train\" is an epoch of "
                  "plain SGD, \"predict\" the same images; onnxruntime runs the model "
                  "``to_onnx`` writes.", ""]
    lines += list_table(["net", "task", "threads", "pyx_cnn", "images/s", "PyTorch",
                         "onnxruntime"], rows)
    return lines


def contention_lines(extra):
    """``bench_contention.py``'s rows: a workload quiet and with one core busy."""
    rows = [[r["workload"], fmt_time(r["quiet_one_s"]), fmt_time(r["quiet_default_s"]),
             f"{r['quiet_speedup']:.2f}x", fmt_time(r["busy_one_s"]),
             fmt_time(r["busy_default_s"]), f"{r['busy_slowdown']:.2f}x"]
            for r in extra["rows"]]
    if not rows:
        return []
    lines = [f"Epochs of ``fit`` at one thread and at the default count "
             f"({extra['default_threads']} threads), on the quiet machine and with another "
             f"program keeping one core busy ({extra['busy_program']}); medians of "
             f"{extra['rounds']} alternating rounds. \"speed-up\" is the one-thread time "
             "over the default's; \"cost\" the default's time over one thread's with the "
             "core busy (at most 1.25 is the goal).", ""]
    for r in extra["rows"]:
        lines.append(f"- **{r['workload']}**: {r['description']}")
    lines.append("")
    lines += list_table(["workload", "quiet, 1 thread", "quiet, default", "speed-up",
                         "busy core, 1 thread", "busy core, default", "cost"], rows)
    return lines


#: (the keys a results file may hold the module's result under, the heading, the function
#: writing its lines); older results files hold bench_layer_ops.py's under "bench_new_ops"
EXTRAS = [
    (("bench_training",), "Training two networks", training_lines),
    (("bench_digits_epoch",), "The digits epoch of pyx-cnn train", digits_lines),
    (("bench_layer_ops", "bench_new_ops"), "Layer operations against PyTorch", layer_ops_lines),
    (("bench_models",), "ResNet-18 and MobileNetV2", models_lines),
    (("bench_contention",), "With one core busy", contention_lines),
]


def result_lines(result, source):
    m = result["machine"]
    title = machine_title(m)
    lines = [title, "-" * len(title), ""]
    env = result.get("environment") or {}
    env_text = (", ".join(f"``{k}={v}``" for k, v in env.items())
                or "none (the default environment)")
    lines += [
        f"From ``{source}``: {m.get('os', '?')}; Python {m.get('python', '?')}, "
        f"NumPy {m.get('numpy', '?')}, PyTorch {m.get('torch') or 'not installed'}, "
        f"pyx_cnn {m.get('pyx_cnn', '?')}; thread variables set: {env_text}. "
        f"Times are medians of {result.get('repeats', '?')} interleaved rounds; in brackets "
        "the peer's time divided by pyx_cnn's (above 1, pyx_cnn is faster).", "",
    ]
    lines += kernel_lines(result)
    extras = result.get("extra") or {}
    for keys, heading, render in EXTRAS:
        extra = next((extras[key] for key in keys if extras.get(key)), None)
        if extra:
            lines += [heading, "~" * len(heading), ""]
            lines += render(extra)
    return lines


class BenchmarkResults(Directive):
    """``.. benchmark-results:: PATTERN``: one section per saved results file."""

    required_arguments = 1
    has_content = False

    def run(self):
        env = self.state.document.settings.env
        rel, path = env.relfn2path(self.arguments[0], env.docname)
        files = sorted(glob.glob(path))
        if not files:
            raise self.error(f"benchmark-results: no file matches {self.arguments[0]!r} "
                             f"(looked for {path})")
        lines = []
        for file in files:
            env.note_dependency(file)
            try:
                with open(file, encoding="utf-8") as fh:
                    result = json.load(fh)
                source = os.path.relpath(file, os.path.join(env.srcdir, ".."))
                lines += result_lines(result, source)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                raise self.error(f"benchmark-results: cannot render {file}: "
                                 f"{type(exc).__name__}: {exc}")
        container = nodes.section()
        container.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source=files[0]), container)
        return container.children


def setup(app):
    app.add_directive("benchmark-results", BenchmarkResults)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
