"""docs/benchmarks.md and its plots from the raw results of one `make bench` run."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import cost, load
from .engines import ENGINES, LABELS

CUTOUTS = [e for e in ENGINES if e != "rembg"]


def _ms(values: list[float]) -> str:
    return f"{np.median(values) * 1000:,.0f}"


def _spread(values: list[float]) -> str:
    lo, hi = np.percentile(values, [10, 90]) * 1000
    return f"{lo:,.0f}–{hi:,.0f}"


def _median(values: list[float]) -> float:
    return float(np.median(values))


def _latency_rows(table: dict) -> list[str]:
    rows = ["| MP | engine | median ms | p10–p90 ms | rembg / engine | output KB |",
            "|---:|---|---:|---:|---:|---:|"]
    for mp, by_engine in table.items():
        base = _median(by_engine["rembg"]["seconds"])
        for name in ENGINES:
            t = by_engine[name]
            ratio = base / _median(t["seconds"])
            rows.append(f"| {float(mp):g} | {LABELS[name]} | {_ms(t['seconds'])} | {_spread(t['seconds'])} "
                        f"| {ratio:.2f}x | {np.median(t['output_bytes']) / 1024:,.0f} |")
    return rows


def _targets(r: dict) -> list[str]:
    lat = r["latency_2cpu"]

    def ratio(mp: str, name: str) -> float:
        return _median(lat[mp]["rembg"]["seconds"]) / _median(lat[mp][name]["seconds"])

    rss = r["rss_12mp"]
    cold = {k: _median([x["seconds"] for x in v]) for k, v in r["cold_start"].items()}
    inf = r["inference"]["seconds"]
    speed = {t: _median(inf["u2netp"][t]) / _median(inf["u2netp-int8"][t]) for t in inf["u2netp"]}
    rows = ["| target | measured | met |", "|---|---|---|"]
    for mp, goal in (("1.0", 2.0), ("12.0", 3.0)):
        for name in CUTOUTS:
            got = ratio(mp, name)
            rows.append(f"| {float(mp):g} MP end to end ≥ {goal:g}x faster than rembg ({LABELS[name]}) "
                        f"| {got:.2f}x | {'yes' if got >= goal else 'no'} |")
    for name in CUTOUTS:
        share = rss[name]["peak"] / rss["rembg"]["peak"]
        rows.append(f"| 12 MP peak RSS ≤ 60% of rembg's ({LABELS[name]}) | {share:.0%} "
                    f"| {'yes' if share <= 0.6 else 'no'} |")
    for name in ("cutout-fp32", "cutout-int8"):
        rows.append(f"| cold start of the Lambda handler ≤ 1.5 s ({LABELS[name]}) | {cold[name]:.2f} s "
                    f"| {'yes' if cold[name] <= 1.5 else 'no'} |")
    for t, s in sorted(speed.items()):
        rows.append(f"| INT8 ≥ 2x faster per pass than fp32, {t} thread(s) | {s:.2f}x | {'yes' if s >= 2 else 'no'} |")
    return rows


def _cost_rows(r: dict) -> tuple[list[str], dict]:
    one, two = r["latency_1cpu"], r["latency_2cpu"]
    peak_mb = {name: r["rss_12mp"][name]["peak"] / 2**20 for name in ENGINES}
    rows = ["| engine | image | memory MB | modelled s/image | GB-s per 1,000 | $ per 1,000 |",
            "|---|---:|---:|---:|---:|---:|"]
    best = {}
    for name in ENGINES:
        for mp in ("1.0", "12.0"):
            t1, t2 = _median(one[mp][name]["seconds"]), _median(two[mp][name]["seconds"])
            for memory in cost.MEMORY_SIZES_MB:
                secs = cost.modelled_seconds(memory, t1, t2)
                gbs, dollars = cost.per_thousand(memory, secs)
                rows.append(f"| {LABELS[name]} | {float(mp):g} MP | {memory:,} | {secs:.3f} | {gbs:,.0f} | {dollars:.4f} |")
            need = int(peak_mb[name] * 1.25) if mp == "12.0" else 512
            best[(name, mp)] = cost.cheapest(t1, t2, need)
    return rows, best


def _plots(r: dict, out: Path) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lat = r["latency_2cpu"]
    sizes = [float(mp) for mp in lat]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for name in ENGINES:
        med = [_median(lat[mp][name]["seconds"]) * 1000 for mp in lat]
        lo = [np.percentile(lat[mp][name]["seconds"], 10) * 1000 for mp in lat]
        hi = [np.percentile(lat[mp][name]["seconds"], 90) * 1000 for mp in lat]
        ax.plot(sizes, med, marker="o", label=LABELS[name])
        ax.fill_between(sizes, lo, hi, alpha=0.15)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
    ax.set_xlabel("image size (megapixels, JPEG in, PNG cut-out out)")
    ax.set_ylabel("warm latency, ms (median, p10–p90 band)")
    ax.set_title("End to end, same machine, same run, 2 CPUs")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "bench-latency.png", dpi=110)
    plt.close(fig)

    inf = r["inference"]["seconds"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    threads = sorted(inf["u2netp"], key=int)
    width = 0.38
    for i, model in enumerate(("u2netp", "u2netp-int8")):
        ms = [_median(inf[model][t]) * 1000 for t in threads]
        xs = np.arange(len(threads)) + (i - 0.5) * width
        ax.bar(xs, ms, width, label=model)
        for x, v in zip(xs, ms):
            ax.text(x, v, f"{v:.0f}", ha="center", va="bottom", fontsize=8)
    ax.set_xticks(np.arange(len(threads)), [f"{t} thread(s)" for t in threads])
    ax.set_ylabel("ms per 320x320 pass (median)")
    ax.set_title("The model alone")
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "bench-inference.png", dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 3.8))
    one, two = r["latency_1cpu"], r["latency_2cpu"]
    labels = []
    for i, name in enumerate(ENGINES):
        vals = []
        for mp in ("1.0", "12.0"):
            t1, t2 = _median(one[mp][name]["seconds"]), _median(two[mp][name]["seconds"])
            vals.append(cost.per_thousand(1769, cost.modelled_seconds(1769, t1, t2))[1])
        xs = np.arange(2) + (i - (len(ENGINES) - 1) / 2) * 0.25
        ax.bar(xs, vals, 0.25, label=LABELS[name])
    ax.set_xticks(np.arange(2), ["1 MP", "12 MP"])
    ax.set_ylabel("$ per 1,000 images (Lambda x86, 1,769 MB)")
    ax.set_title(f"Cost per 1,000 images (prices of {cost.PRICE_DATE})")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "bench-cost.png", dpi=110)
    plt.close(fig)
    return ["bench-latency.png", "bench-inference.png", "bench-cost.png"]


def load_section(results: dict) -> list[str]:
    """The server-under-load table (bench/load.py's rows)."""
    lines = [
        "## The server under load",
        "",
        f"`cutout serve` (2 cut slots, SQLite and local files) and N clients for {results['seconds']:g} s each,",
        "one server for all rows in turn; each client sends, back to back, api4ai, remove.bg, Azure,",
        "IMG Processing and an Adobe job (polled to its end), photos of 1, 4, 1 and 12 MP in turn",
        "(bench/load.py). Latencies are the synchronous answers'; a job's is submit to done.",
        "Credits: `X-Credits-Charged` of the successes / of the failures / the account's usage as",
        "the server counts it (nothing charged for a failure: the first and last agree).",
        "",
        *load.TABLE_HEAD,
    ]
    lines += [load.table_row(row) for row in results["rows"]]
    return lines


def write(r: dict, out: Path) -> None:
    m = r["machine"]
    plots = _plots(r, out)
    inf = r["inference"]
    gflop = inf["gflop_per_pass"]
    lines = [
        "# Benchmarks: Cutout against rembg",
        "",
        "Generated by `make bench` (bench/run.py); raw numbers in `benchmarks.json`. Re-run it",
        "on your own machine: times here are from a small shared machine and are noisy,",
        "so every comparison is a ratio of times measured in the same run, engines alternating.",
        "",
        f"Machine: {m['cpu']}, {m['cpus_available']} CPUs usable, {m['memory_gib']} GiB, "
        f"AVX512-VNNI {'yes' if m['avx512_vnni'] else 'no'}; Linux {m['kernel']}; Python {m['python']}, "
        f"onnxruntime {m['onnxruntime']}, Pillow {m['pillow']}, NumPy {m['numpy']}, rembg {m['rembg']}. "
        f"Run {m['date']}; load average at start {', '.join(f'{x:.2f}' for x in m['load_average_at_start'])} "
        "(other work shared the machine).",
        "",
        "Each engine runs warm in its own worker process (as in production: no shared allocator",
        "or thread pools); the parent hands every engine the same photo in turn.",
        "",
        "Inputs: the first photo of each shared evaluation set, re-encoded as JPEG (quality 90)",
        "at 0.25, 1, 4 and 12 megapixels (upscaled with LANCZOS where needed). Every engine",
        "takes the JPEG bytes and returns a PNG cut-out (RGBA). rembg runs `remove()` with a",
        "reused `new_session(\"u2netp\")` whose file is the same verified u2netp.onnx (`U2NET_HOME`),",
        "and the same onnxruntime thread count as Cutout.",
        "",
        "Engines: *Cutout, u2netp-int8* is the service's default (the INT8 build of the same",
        "weights, docs/performance.md); *Cutout, u2netp fp32* is the same service with",
        "`CUTOUT_MODEL=u2netp`. Thresholded at 0.5, the",
        f"masks of fp32 and rembg agree on {r['checks']['fp32_vs_rembg_mask_agreement']:.2%} of the pixels",
        f"of the 1 MP photo, INT8 and fp32 on {r['checks']['int8_vs_fp32_mask_agreement']:.2%}.",
        "",
        "## Targets",
        "",
        *_targets(r),
        "",
        "## End to end, warm, 2 CPUs",
        "",
        f"![latency]({plots[0]})",
        "",
        *_latency_rows(r["latency_2cpu"]),
        "",
        "## End to end, warm, 1 pinned CPU (the basis of the 1,769 MB cost)",
        "",
        *_latency_rows(r["latency_1cpu"]),
        "",
        "## Peak memory of one 12 MP request",
        "",
        "Each engine in a fresh process: loaded, warmed on a 0.25 MP image, the kernel's",
        "high-water mark reset, then one 12 MP request. Peak RSS is the whole process's.",
        "",
        "| engine | RSS before MB | peak RSS MB | the request's own MB | % of rembg's peak |",
        "|---|---:|---:|---:|---:|",
    ]
    base = r["rss_12mp"]["rembg"]["peak"]
    for name in ENGINES:
        x = r["rss_12mp"][name]
        lines.append(f"| {LABELS[name]} | {x['rss_before'] / 2**20:,.0f} | {x['peak'] / 2**20:,.0f} | "
                     f"{(x['peak'] - x['rss_before']) / 2**20:,.0f} | {x['peak'] / base:.0%} |")
    if "options_12mp" in r:
        lines += [
            "",
            "## Output options at 12 MP",
            "",
            "`pipeline.cut` with each option (remove.bg's names), the default model, 2 threads;",
            "median over rounds x photos, options interleaved; ratio to the transparent PNG cut-out.",
            "",
            "| option | median s | x the PNG cut-out |",
            "|---|---:|---:|",
        ]
        lines += [f"| {name} | {row['seconds']:.3f} | {row['ratio']:.2f} |"
                  for name, row in r["options_12mp"].items()]
    if "folder" in r:
        f = r["folder"]
        lines += [
            "",
            f"## A folder of photos: `cutout remove` against `rembg p`",
            "",
            f"{f['images']} JPEGs of about {f['megapixels']:g} MP in one folder; each command run as a user",
            "runs it, a fresh process to exit (model load included), alternating (bench/folder.py):",
            "`cutout remove IN -o OUT -q` (defaults: u2netp-int8, PNG, as many cut-outs at once as",
            "CPUs) and `rembg p -m u2netp IN OUT` (the same u2netp.onnx).",
            "",
            "| command | images/s | runs s |",
            "|---|---:|---|",
        ]
        lines += [f"| `{name}` | {f[name]['images_per_second']:.2f} | "
                  f"{', '.join(f'{s:.1f}' for s in f[name]['seconds'])} |"
                  for name in ("cutout remove", "rembg p")]
        lines += ["", f"`cutout remove` processes the folder {f['ratio']:.2f}x as fast as `rembg p` (goal: 2x)."]
    if "load" in r:
        lines += ["", *load_section(r["load"])]
    lines += [
        "",
        "## Cold start",
        "",
        "Whole process, from `python` starting to the first response: Cutout imports the Lambda",
        "handler (functions/api/handler.py: app built and model loaded at import) and answers",
        "events/api-multipart-upload.json; rembg imports, makes its u2netp session and runs one",
        "`remove()` on the same photo. Median of alternating runs after a warm-up of each (page cache warm).",
        "",
        "| engine | median s | runs s |",
        "|---|---:|---|",
    ]
    for name, runs in r["cold_start"].items():
        secs = [x["seconds"] for x in runs]
        lines.append(f"| {LABELS[name]} | {np.median(secs):.2f} | {', '.join(f'{s:.2f}' for s in secs)} |")
    lines += [
        "",
        "## The model alone",
        "",
        f"![inference]({plots[1]})",
        "",
        f"One 320x320 forward pass; {gflop:.1f} GFLOP per pass (2 x the multiply-accumulates of",
        "every convolution, counted from the graph). Median of alternating passes.",
        "",
        "| model | threads | ms per pass | p10–p90 ms | GFLOP/s | speed-up over fp32 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    secs = inf["seconds"]
    for model in ("u2netp", "u2netp-int8"):
        for t in sorted(secs[model], key=int):
            med = _median(secs[model][t])
            lines.append(f"| {model} | {t} | {med * 1000:.0f} | {_spread(secs[model][t])} | {gflop / med:.0f} | "
                         f"{_median(secs['u2netp'][t]) / med:.2f}x |")
    cost_rows, best = _cost_rows(r)
    lines += [
        "",
        "## Cost on Lambda",
        "",
        f"![cost]({plots[2]})",
        "",
        f"x86, us-east-1, first pricing tier: ${cost.PRICE_GB_SECOND} per GB-second and $0.20 per",
        f"million requests (AWS's published prices as of {cost.PRICE_DATE}; API Gateway and data",
        "transfer not included). Lambda gives CPU in proportion to memory (1,769 MB = 1 vCPU);",
        "times at each size are modelled from the 1-CPU and 2-CPU measurements above",
        "(3,008 MB: 1.7 CPUs interpolated; 5,307 MB: the 2-CPU time, as only 2 cores exist here).",
        "",
        *cost_rows,
        "",
        "Cheapest memory size per image (at least 512 MB for 1 MP, 1.25 x the measured peak RSS for 12 MP):",
        "",
        "| engine | image | memory MB | $ per 1,000 |",
        "|---|---:|---:|---:|",
    ]
    for (name, mp), (memory, dollars) in best.items():
        lines.append(f"| {LABELS[name]} | {float(mp):g} MP | {memory:,} | {dollars:.4f} |")
    lines += [
        "",
        "Below 1,769 MB a function gets a fraction of a vCPU and runs proportionally longer, so",
        "GB-seconds stay flat; above it they grow unless more CPUs shorten the request in",
        "proportion, which two threads here do not. So the cheapest size is about 1,769 MB: the",
        "fastest of the equally cheap sizes.",
        "",
    ]
    (out / "benchmarks.md").write_text("\n".join(lines))
