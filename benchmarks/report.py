"""Render the benchmark's JSON report as Markdown: a table per backend and one for start-up."""

from __future__ import annotations

from typing import Any

BACKEND_TITLES = {
    "s3": "S3 (moto server on 127.0.0.1)",
    "azure": "Azure Blob (Azurite on 127.0.0.1)",
    "gcs": "GCS (fake-gcs-server on 127.0.0.1)",
    "local": "Local filesystem",
}


def backend_title(report: dict[str, Any], backend: str, short: bool = False) -> str:
    """A backend's heading (``short``: its table-cell name); the local one names its filesystem."""
    title = BACKEND_TITLES[backend]
    if short:
        title = title.split(" (")[0].replace("Local filesystem", "local")
    where = report["machine"].get("local_fs")
    if backend == "local" and where:
        title += f" ({where.split(' at ')[0]})" if short else f" ({where})"
    return title


def _notes(report: dict[str, Any]) -> list[str]:
    """The report's notes, each a paragraph followed by a blank line."""
    return [line for note in report.get("notes", []) for line in (note, "")]


RATIO_HEADER = "Ratio client ÷ persist time (> 1: persist faster)"


def _cell(text: str, limit: int = 160) -> str:
    """Text that is safe in a Markdown table cell, shortened to ``limit`` characters."""
    flat = " ".join(text.split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.3f}" if value < 1 else f"{value:.2f}"


def _run_range(row: dict[str, Any]) -> tuple[float, float] | None:
    """Fastest and slowest successful run of a client, in seconds."""
    times = [run["seconds"] for run in row["runs"] if run["ok"] and run["seconds"] is not None]
    return (min(times), max(times)) if times else None


def _within_noise(mine: dict[str, Any], peer: dict[str, Any]) -> bool:
    """Whether persist's fastest run was at least as fast as the peer's slowest run."""
    own, theirs = _run_range(mine), _run_range(peer)
    return own is not None and theirs is not None and own[0] <= theirs[1]


def _time_ratio(mine: dict[str, Any], peer: dict[str, Any]) -> str:
    """The peer's median time over persist's, marked ≈ when below 1 but within the runs' spread."""
    ratio = peer["median_seconds"] / mine["median_seconds"]
    return f"{ratio:.2f} ≈" if ratio < 1 and _within_noise(mine, peer) else f"{ratio:.2f}"


def _ratio_range(mine: dict[str, Any], peer: dict[str, Any]) -> tuple[float, float] | None:
    """The spread of the peer ÷ persist time ratio over the runs: its lowest and highest value.

    Lowest: the peer's fastest run over persist's slowest; highest: the peer's slowest over
    persist's fastest. Every pairing of one run of each lies in between, so a range that holds
    1 means the runs do not say which client is faster.
    """
    own, theirs = _run_range(mine), _run_range(peer)
    if own is None or theirs is None or not own[0] or not own[1]:
        return None
    return theirs[0] / own[1], theirs[1] / own[0]


def _ratio_spread(mine: dict[str, Any], peer: dict[str, Any]) -> str:
    """:func:`_ratio_range` as text, ``0.80-1.20``; a dash without runs."""
    spread = _ratio_range(mine, peer)
    return "—" if spread is None else f"{spread[0]:.2f}-{spread[1]:.2f}"


RANGE_NOTE = (
    "Ratio range: the spread of the time ratio over the runs, from the peer's fastest run ÷ "
    "persist's slowest to the peer's slowest ÷ persist's fastest; every pairing of one run of "
    "each lies in between, so a range that holds 1.00 leaves open which client is faster."
)


MARK_TITLES: dict[str, str] = {"first_file": "First file (s)"}
"""Column title of each mark a child may report (``benchmarks.clients.mark``): seconds from the
start of the transfer to an event, such as the first file of a folder download landing."""


def _marks_in(results: list[dict[str, Any]]) -> list[str]:
    """The marks any row of ``results`` has, in :data:`MARK_TITLES` order, then by name."""
    found = {name for result in results for row in result["rows"] for name in row.get("median_marks") or {}}
    return [name for name in MARK_TITLES if name in found] + sorted(found - set(MARK_TITLES))


def _mark_title(name: str) -> str:
    return MARK_TITLES.get(name, f"{name} (s)")


def _mark_cell(row: dict[str, Any] | None, name: str) -> str:
    """A row's median of one mark, with its runs' range when they differ."""
    if row is None or name not in (row.get("median_marks") or {}):
        return "—"
    values = [run["marks"][name] for run in row["runs"] if run["ok"] and name in (run.get("marks") or {})]
    text = _seconds(row["median_marks"][name])
    if len(values) > 1 and min(values) != max(values):
        text += f" ({_seconds(min(values))}-{_seconds(max(values))})"
    return text


def _cpu_ratio(mine: dict[str, Any], peer: dict[str, Any]) -> str:
    """The peer's median CPU time over persist's (older reports have none: a dash)."""
    own, theirs = mine.get("median_cpu_seconds"), peer.get("median_cpu_seconds")
    return f"{theirs / own:.2f}" if own and theirs is not None else "—"


NOISE_NOTE = (
    "≈ marks a ratio below 1 where the runs overlap: persist's fastest run was at least as fast "
    "as the peer's slowest, so the difference is within the spread of the runs. CPU is the "
    "client's own user + system time during the transfer (all its threads; for s5cmd and cp, "
    "the tool's), which depends far less than wall time on how fast the servers answer."
)


SERVER_NOTE = (
    "Server busy is the server's own CPU time during the run divided by the run's time (median of "
    "the runs; persist's / the fastest peer's). moto serves requests one at a time under "
    "Python's GIL and Azurite on one Node thread, so near 1 the server was working the whole "
    "run: it set the pace, and a faster client can only save the CPU it takes from it on the "
    "shared cores."
)


def _busy(row: dict[str, Any] | None) -> str:
    value = None if row is None else row.get("median_server_busy")
    return "—" if value is None else f"{value:.2f}"


ROTATED_BY_WORKLOAD = "rotated by repetition and by workload"
"""``settings.order`` of runs whose client order also rotates from one workload to the next."""
WARMUP_RUN = "one run per workload before the repetitions, not counted"
"""``settings.warmup`` of runs that start each workload with a run no client is measured by."""


def _many_file_reps(settings: dict[str, Any]) -> int:
    """Repetitions of the many-file upload: ``--many-reps``, never more than ``--reps``."""
    return min(int(settings["reps"]), int(settings["many_reps"]))


def _machine(report: dict[str, Any]) -> list[str]:
    m = report["machine"]
    pk = m["packages"]
    versions = ", ".join(f"{name} {version}" for name, version in pk.items())
    settings = report["settings"]
    sizes = settings["sizes"]
    args = " ".join(settings.get("argv") or [])
    minutes = report["duration_seconds"] / 60
    rotation = "between repetitions"
    if settings.get("order") == ROTATED_BY_WORKLOAD:
        rotation += (
            " and between workloads (so a workload run once does not always start with the same client)"
        )
    warmup = ""
    if settings.get("warmup") == WARMUP_RUN:
        warmup = (
            f" Each workload (but the {sizes['many_files']:,}-file uploads, which start every run on a "
            "fresh server) "
            "begins with one run of the first client in the order that is not counted: the first "
            "run on a server or on data just written tends to be slower than the rest."
        )
    return [
        f"Date: {report['date']} (UTC); the run took {minutes:.1f} minutes "
        f"(`bash benchmarks/run{' ' + args if args else ''}`).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, {m['os']}, "
        f"Python {m['python']}. Servers: moto {pk.get('moto', '?')} (S3) and Azurite {m['azurite']} "
        f"(Azure Blob, Node {m['node']}){_gcs_server(m)} on 127.0.0.1, sharing the cores with the clients.",
        "",
        f"Versions: {versions}, s5cmd {m['s5cmd']}.",
        "",
        f"Data: one {sizes['big_bytes'] / 1048576:g} MiB file of random bytes; "
        f"{sizes['small_files']:,} files x {sizes['small_bytes'] // 1024} KiB; "
        f"{sizes['many_files']:,} files x {sizes['many_bytes'] // 1024} KiB "
        f"(100 files per sub-folder). Repetitions: {settings['reps']} "
        f"({_many_file_reps(settings)} for the {sizes['many_files']:,}-file upload and download); "
        "the figures are medians.",
        "",
        "Method: every run is a fresh process running one client; the clients alternate within "
        f"each repetition and their order rotates {rotation}.{warmup} *Seconds* is the wall time "
        "of the transfer call alone: imports, building the client and one warm-up request (an "
        "existence check or listing) happen before the clock starts. *Peak RSS* is the child "
        "process's maximum resident memory including its imports (`VmHWM`; for s5cmd and cp: the "
        "tool's own, sampled every 5 ms). *Runs* is the fastest and slowest repetition; *CPU* the "
        "median user + system time the client spent during the transfer; *Server busy* the "
        "median of the server's CPU time during the transfer over the transfer's time. MB/s is "
        "10⁶ bytes per second. After each run the "
        "benchmark checks that every object or file arrived with the right name and size (and "
        "the large download's SHA-256), "
        f"then deletes it. {RATIO_HEADER}: the client's median seconds divided by "
        f"{settings['baseline']}'s; in brackets its range over the runs, from the client's fastest "
        f"run ÷ {settings['baseline']}'s slowest to the client's slowest ÷ {settings['baseline']}'s "
        "fastest. *First file* (folder downloads): seconds from the start of the transfer until "
        "the first file was complete on the local disk, as the client itself reports it.",
    ]


def _workload_rows(result: dict[str, Any], marks: list[str] | None = None) -> list[str]:
    """The full table's rows of one workload; ``marks``: the mark columns of its table."""
    marks = marks or []
    baseline = result["baseline"]
    medians = [r["median_seconds"] for r in result["rows"] if r["median_seconds"] is not None]
    best = min(medians) if medians else None
    lines = []
    for row in result["rows"]:
        runs = row["runs"]
        failed = [r for r in runs if not r["ok"]]
        med = row["median_seconds"]
        notes: list[str] = []
        if med is None:
            reason = failed[0]["error"] if failed else "no run"
            seconds = f"failed: {_cell(reason)}"
        else:
            seconds = _seconds(med)
            if med == best and len(medians) > 1:
                seconds = f"**{seconds}**"
            if failed:
                notes.append(f"{len(failed)} of {len(runs)} runs failed: {_cell(failed[0]['error'])}")
        spread = _run_range(row)
        runs_text = "—" if spread is None else f"{_seconds(spread[0])}-{_seconds(spread[1])}"
        if row["mb_per_s"] is not None:
            rate = f"{row['mb_per_s']:.1f} MB/s"
        elif row["files_per_s"] is not None:
            rate = f"{row['files_per_s']:.0f} files/s"
        elif row.get("calls_per_s") is not None:
            rate = f"{row['calls_per_s']:.0f} calls/s"
        else:
            rate = "—"
        if any(r.get("rss_of") == "tool" for r in runs):
            notes.append("RSS of the tool")
        ratio = row["ratio_to_persist"]
        ratio_text = (
            "—" if ratio is None else ("1.00 (baseline)" if row["client"] == baseline else f"{ratio:.2f}")
        )
        base_row = next((r for r in result["rows"] if r["client"] == baseline), None)
        if ratio is not None and base_row is not None and row["client"] != baseline:
            spread = _ratio_range(base_row, row)
            if spread is not None:
                ratio_text += f" ({spread[0]:.2f}-{spread[1]:.2f})"
        mark_cells = "".join(f"{_mark_cell(row, name)} | " for name in marks)
        lines.append(
            f"| {result['title']} | {row['client']} | {seconds} | {runs_text} | {rate} | "
            f"{_num(row.get('median_cpu_seconds'))} | {_busy(row)} "
            f"| {_num(row['median_peak_rss_mib'], 0)} | {mark_cells}{ratio_text} | {'; '.join(notes)} |"
        )
    return lines


def _startup(report: dict[str, Any]) -> list[str]:
    lines = [
        "## Start-up",
        "",
        "Each figure is the median of fresh processes (the two sides alternating). Ratio: flytekit ÷ "
        "persist (> 1: persist faster).",
        "",
        "| Measure | persist | flytekit | Ratio flytekit ÷ persist | Notes |",
        "|---|---:|---:|---:|---|",
    ]
    by_name = {m["measure"]: m for m in report["startup"]}

    def side(measure: str, who: str, key: str) -> float | None:
        values = by_name.get(measure, {}).get("sides", {}).get(who)
        if not values or key not in values:
            return None
        return float(values[key])

    def error(measure: str, who: str) -> str | None:
        values = by_name.get(measure, {}).get("sides", {}).get(who)
        return None if not values or "error" not in values else _cell("failed: " + values["error"])

    def row(label: str, measure: str, key: str, notes: str = "", scale: str = "s") -> str:
        cells = []
        values = []
        for who in ("persist", "flytekit"):
            value = side(measure, who, key)
            values.append(value)
            if value is None:
                cells.append(error(measure, who) or "—")
            elif scale == "MiB":
                cells.append(f"{value / 1024:.0f} MiB")
            else:
                cells.append(f"{_seconds(value)} s")
        ratio = "—"
        if values[0] and values[1]:
            quotient = values[1] / values[0]
            ratio = f"{quotient:.2f}" if quotient < 10 else f"{quotient:.1f}"
        return f"| {label} | {cells[0]} | {cells[1]} | {ratio} | {notes} |"

    runs = by_name.get("import", {}).get("runs", "?")
    if "import" in by_name:
        lines.append(
            row(
                f"`import` (in-process, median of {runs})",
                "import",
                "seconds",
                "`import persist` vs `import flytekit.core.data_persistence`",
            )
        )
        lines.append(row("`import`, whole process (wall)", "import", "wall", "includes interpreter start"))
        lines.append(row("peak RSS after the import", "import", "rss_kib", scale="MiB"))
    if "-X importtime total" in by_name:
        counts = [
            by_name["-X importtime total"]["sides"].get(who, {}).get("modules")
            for who in ("persist", "flytekit")
        ]
        lines.append(
            row(
                "`-X importtime`, sum of self times",
                "-X importtime total",
                "seconds",
                f"modules imported: persist {counts[0]}, flytekit {counts[1]}",
            )
        )
    name = "config file to S3 filesystem"
    if name in by_name:
        lines.append(
            row(
                "import + config file → S3 filesystem",
                name,
                "cold",
                "in a fresh process: persist: `import persist`, "
                "`DataConfig.from_yaml(config-examples/s3-moto.yaml)`, "
                "`FileAccessProvider(...).get_filesystem('s3')`; flytekit: its imports, "
                "`DataConfig.auto(config_file=config-examples/flytekit-legacy.yaml)`, the same",
            )
        )
        lines.append(
            row(
                "… after the import: config → S3 filesystem",
                name,
                "seconds",
                "includes whatever each imports on first use (persist: pydantic, s3fs)",
            )
        )
        lines.append(row("… of which loading the config", name, "load"))
    name = "persist validate config-examples/s3-moto.yaml"
    if name in by_name:
        lines.append(
            row(
                "`persist validate config-examples/s3-moto.yaml` (wall)",
                name,
                "wall",
                "no flytekit equivalent",
            )
        )
    name = "interpreter start (python -c pass)"
    if name in by_name:
        value = side(name, "python", "wall")
        lines.append(
            f"| interpreter start, `python -c pass` (wall) | {_seconds(value)} s | | | for reference |"
        )
    return lines


def _warmups(results: list[dict[str, Any]]) -> list[str]:
    """One line listing the uncounted warm-up run of each workload that had one."""
    runs = []
    for result in results:
        warmup = result.get("warmup")
        if not warmup:
            continue
        outcome = (
            f"{_seconds(warmup['seconds'])} s" if warmup["ok"] else f"failed: {_cell(warmup['error'] or '')}"
        )
        runs.append(f"{result['workload']} {warmup['client']} {outcome}")
    return [f"Warm-up runs (not counted): {'; '.join(runs)}.", ""] if runs else []


def render_markdown(report: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    lines = ["# persist benchmark", "", *_machine(report), ""]
    if report.get("partial"):
        lines += ["**Partial results: the run had not finished when this was written.**", ""]
    lines += _notes(report)
    restarts = report.get("server_restarts") or []
    if restarts:
        lines += [
            f"Server restarts between runs (not timed; a fresh server is seeded again): "
            f"{len(restarts)} — {_cell('; '.join(restarts), 400)}.",
            "",
        ]
    not_run = report["settings"].get("not_run") or []
    if not_run:
        lines += [
            f"Not run: {', '.join(f'`{key}`' for key in not_run)} (slow: moto takes "
            "120-200 small PUTs a second and Azurite falls to about 45 a second as a container fills, "
            "whatever the client, and the 20,000-key downloads wait on the same small-request pace; "
            "add `--include-slow`).",
            "",
        ]
    results = report["results"]
    for backend in BACKEND_TITLES:
        mine = [r for r in results if r["backend"] == backend]
        if not mine:
            continue
        marks = _marks_in(mine)
        lines += [
            f"## {backend_title(report, backend)}",
            "",
            f"| Workload | Client | Seconds | Runs (s) | Throughput | CPU (s) | Server busy "
            f"| Peak RSS (MiB) | {''.join(_mark_title(name) + ' | ' for name in marks)}"
            f"{RATIO_HEADER} (range over the runs) | Notes |",
            "|---|---|---:|---:|---:|---:|---:|---:|" + "---:|" * len(marks) + "---:|---|",
        ]
        for result in mine:
            lines += _workload_rows(result, marks)
        lines.append("")
        lines += _warmups(mine)
        if backend == "azure":
            lines += [
                "flytekit on Azure: flytekit hands adlfs only `account_name`/`account_key` "
                "(from `FLYTE_AZURE_STORAGE_ACCOUNT_NAME`/`_KEY`), from which adlfs builds an "
                "`https://` URL that Azurite (plain http) cannot answer; the benchmark also sets "
                "`AZURE_STORAGE_CONNECTION_STRING`, which adlfs reads itself and prefers, so "
                "flytekit's own code path reaches Azurite.",
                "",
            ]
        if backend == "gcs":
            lines += [GCS_NOTE, ""]
        if backend == "local" and str(report["machine"].get("local_fs", "")).startswith("tmpfs"):
            lines += [
                "The local folders live in memory (tmpfs), so these times are the clients' own "
                "per-file work; on this virtual machine's disk the same `cp -r` took from 0.09 s to "
                "1.8 s, whoever ran it. `--local-dir PATH` measures another filesystem.",
                "",
            ]
    lines += _call_table(report)
    if report["startup"]:
        lines += [*_startup(report), ""]
    return "\n".join(lines)


GCS_NOTE = (
    "GCS: every run starts on a fresh fake-gcs-server (it slows as objects accumulate), seeded "
    "before the clock starts, so no run has a warm-up. flytekit gives gcsfs no endpoint; gcsfs "
    "reads `STORAGE_EMULATOR_HOST` itself, which the benchmark sets for flytekit. obstore's "
    "`GCSStore` reads from fake-gcs-server but cannot write to it (it writes through GCS's XML "
    "API, which the emulator routes to its JSON upload handler: see benchmarks/README.md), so "
    "it has download rows only."
)


def _gcs_server(machine: dict[str, Any]) -> str:
    """`` and fake-gcs-server VERSION (GCS)`` when the report has its version (older ones do not)."""
    version = machine.get("fake-gcs-server")
    return f" and fake-gcs-server {version} (GCS)" if version else ""


README_START = "<!-- benchmark:start -->"
README_END = "<!-- benchmark:end -->"


def render_summary(report: dict[str, Any]) -> str:
    """One row per workload: persist against the fastest peer and against flytekit.

    A ratio above 1 means persist is faster; one below 1 is marked when the runs overlap (see
    :data:`NOISE_NOTE`), and the per-run figures are in the full table.
    """
    m = report["machine"]
    settings = report["settings"]
    lines = [
        f"Measured {report['date'][:10]} on {m['cpu']}, {m['cores']} cores, {m['ram_gib']} GiB RAM, "
        f"Python {m['python']}, servers on the same cores; medians of {settings['reps']} "
        f"({_many_file_reps(settings)} for the {settings['sizes']['many_files']:,}-file upload and "
        "download). "
        "Full tables, versions and method: [benchmarks/results/latest.md](benchmarks/results/latest.md).",
        "",
        *_notes(report),
        NOISE_NOTE,
        "",
        RANGE_NOTE,
        "",
        SERVER_NOTE,
        "",
        "| Backend | Workload | persist | Fastest peer | Peer ÷ persist time | Ratio range (runs) "
        "| Peer ÷ persist CPU "
        "| Server busy | flytekit ÷ persist time | persist peak RSS (MiB) | Peers' peak RSS (MiB) |",
        "|---|---|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for result in report["results"]:
        rows = {row["client"]: row for row in result["rows"]}
        mine = rows.get(result["baseline"])
        if mine is None or mine["median_seconds"] is None:
            continue
        own = mine["median_seconds"]
        baseline = result["baseline"]
        peers = [row for name, row in rows.items() if name != baseline and row["median_seconds"] is not None]
        best = min(peers, key=lambda row: row["median_seconds"]) if peers else None
        fly = rows.get("flytekit")
        rss = ", ".join(
            f"{row['client']} {row['median_peak_rss_mib']:.0f}"
            for row in peers
            if row.get("median_peak_rss_mib") is not None
        )
        where = backend_title(report, result["backend"], short=True)
        lines.append(
            f"| {where} | {result['title']} | {_seconds(own)} s "
            f"| {best['client'] + ' ' + _seconds(best['median_seconds']) + ' s' if best else '—'} "
            f"| {_time_ratio(mine, best) if best else '—'} "
            f"| {_ratio_spread(mine, best) if best else '—'} "
            f"| {_cpu_ratio(mine, best) if best else '—'} "
            f"| {_busy(mine)} / {_busy(best)} "
            f"| {_num(fly['median_seconds'] / own) if fly and fly['median_seconds'] else '—'} "
            f"| {_num(mine.get('median_peak_rss_mib'), 0)} | {rss} |"
        )
    lines += _summary_marks(report)
    calls = _call_table(report)
    if calls:
        lines += ["", *(f"#{line}" if line.startswith("## ") else line for line in calls[:-1])]
    if report["startup"]:
        lines += ["", *(f"#{line}" if line.startswith("## ") else line for line in _startup(report))]
    return "\n".join(lines)


def _summary_marks(report: dict[str, Any]) -> list[str]:
    """A table of the marks (such as the first file's time) of the workloads that have them.

    Per workload and mark: persist's median, the peer that reached it first, and their ratio
    (> 1: persist reached it first), with the ratio's range over the runs as in the main table.
    """
    lines: list[str] = []
    for result in report["results"]:
        rows = {row["client"]: row for row in result["rows"]}
        mine = rows.get(result["baseline"])
        if mine is None:
            continue
        for name in _marks_in([result]):
            if name not in (mine.get("median_marks") or {}):
                continue
            own = mine["median_marks"][name]
            peers = [
                row
                for client, row in rows.items()
                if client != result["baseline"] and name in (row.get("median_marks") or {})
            ]
            best = min(peers, key=lambda row: row["median_marks"][name]) if peers else None
            peer_text, ratio, spread = "—", "—", "—"
            if best is not None:
                theirs = best["median_marks"][name]
                peer_text = f"{best['client']} {_mark_cell(best, name)}"
                ratio = f"{theirs / own:.2f}" if own else "—"
                low, high = _mark_ratio_range(mine, best, name)
                spread = f"{low:.2f}-{high:.2f}" if low is not None and high is not None else "—"
            where = backend_title(report, result["backend"], short=True)
            lines.append(
                f"| {where} | {result['title']} | {_mark_title(name).removesuffix(' (s)')} "
                f"| {_mark_cell(mine, name)} | {peer_text} | {ratio} | {spread} |"
            )
    if not lines:
        return []
    head = [
        "",
        "Moments within a transfer, in seconds from its start (median, runs' range in brackets): "
        "*First file* is when the first file of a folder download was complete on the local disk "
        "(persist: its progress listener; fsspec clients: their `get` callback; obstore and "
        "boto3: their own download loop). Ratio: the peer's ÷ persist's (> 1: persist first).",
        "",
        "| Backend | Workload | Measure | persist | First peer | Peer ÷ persist | Ratio range (runs) |",
        "|---|---|---|---:|---|---:|---:|",
    ]
    return head + lines


def _mark_ratio_range(
    mine: dict[str, Any], peer: dict[str, Any], name: str
) -> tuple[float | None, float | None]:
    """Lowest and highest peer ÷ persist ratio of one mark over the runs (see :func:`_ratio_range`)."""

    def values(row: dict[str, Any]) -> list[float]:
        return [run["marks"][name] for run in row["runs"] if run["ok"] and name in (run.get("marks") or {})]

    own, theirs = values(mine), values(peer)
    if not own or not theirs or not min(own):
        return None, None
    return min(theirs) / max(own), max(theirs) / min(own)


def update_readme(readme: str, report: dict[str, Any]) -> str:
    """``readme`` with the text between the benchmark markers replaced by the summary."""
    start, end = readme.index(README_START) + len(README_START), readme.index(README_END)
    return f"{readme[:start]}\n{render_summary(report)}\n{readme[end:]}"


# --- small-call latency (benchmarks/calls.py) -----------------------------------------------


CALLS_NOTE = (
    "Per-call overhead is (persist's median seconds - the fastest peer's) ÷ calls, in "
    "microseconds (negative: persist is faster); its range pairs persist's fastest run with the "
    "peer's slowest and the other way round. Each call is sequential, from plain sync code."
)


def _call_rate(row: dict[str, Any], calls: int) -> str:
    """Median calls per second, with the runs' range."""
    spread = _run_range(row)
    if row.get("calls_per_s") is None or spread is None:
        return "—"
    return f"{row['calls_per_s']:.0f} ({calls / spread[1]:.0f}-{calls / spread[0]:.0f})"


def _call_table(report: dict[str, Any]) -> list[str]:
    """Small calls: persist and the fastest peer in calls/s, the ratio and the per-call overhead."""
    results = [r for r in report["results"] if r.get("kind") == "calls"]
    if not results:
        return []
    lines = [
        "## Small-call latency",
        "",
        CALLS_NOTE,
        "",
        "| Backend | Calls | persist calls/s (runs) | Fastest peer calls/s (runs) | Peer ÷ persist time "
        "| Per-call overhead µs (range) |",
        "|---|---|---:|---|---:|---:|",
    ]
    for result in results:
        rows = {row["client"]: row for row in result["rows"]}
        mine = rows.get(result["baseline"])
        calls = int(result["files"])
        if mine is None or mine["median_seconds"] is None:
            continue
        peers = [
            r for name, r in rows.items() if name != result["baseline"] and r["median_seconds"] is not None
        ]
        best = min(peers, key=lambda r: r["median_seconds"]) if peers else None
        overhead, spread = "—", ""
        if best is not None:
            overhead = f"{(mine['median_seconds'] - best['median_seconds']) / calls * 1e6:.0f}"
            own, theirs = _run_range(mine), _run_range(best)
            if own and theirs:
                low = (own[0] - theirs[1]) / calls * 1e6
                high = (own[1] - theirs[0]) / calls * 1e6
                spread = f" ({low:.0f} to {high:.0f})"
        peer = f"{best['client']} {_call_rate(best, calls)}" if best else "—"
        lines.append(
            f"| {backend_title(report, result['backend'], short=True)} | {result['title']} "
            f"| {_call_rate(mine, calls)} | {peer} | {_time_ratio(mine, best) if best else '—'} "
            f"| {overhead}{spread} |"
        )
    return [*lines, ""]
