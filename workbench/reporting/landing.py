"""`report.html`: the landing page of a run, the page a marketer acts on.

It leads with the goal in words, who was scored and when, and a verdict in plain words; then
whom to target (buckets, as a table and a chart), the score distribution, why profiles score
high or low (top factors per bucket with direction and values), the segments, whom to contact
given what a contact costs and a conversion is worth, the cohorts the model serves badly
(`reporting.decisions`), how expected conversions compared with what happened at past
validation dates, a link to every run of the goal, and finally the notebook pages and the
run's files, each named by what it holds. Sections whose files a (failed) run
lacks are left out; the page never fails because a figure is missing.
"""

from __future__ import annotations

import html
from pathlib import Path

from workbench.artifacts import ARTIFACTS
from workbench.reporting import decisions, insight
from workbench.reporting.page import document, figure, nav
from workbench.reporting.tables import html_table, number, percent
from workbench.run import Run

__all__ = ["write_report", "notebook_links", "run_title"]

esc = html.escape

# The run's files the landing page links to, when present (in `ARTIFACTS` order).
LINKED = {
    "scores_csv",
    "segments",
    "segments_summary",
    "factors_by_bucket",
    "metrics",
    "quality",
    "goal_summary",
    "quarantine",
    "profiles_quarantine",
    "config",
    "model",
    "record",
    "backtest",
    "economics",
    "profit_curve",
    "cohorts",
}


def _axes(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size).add_subplot()


def run_title(run: Run) -> str:
    """The config's name, with the `--set` overrides the run used (`name (goal.window_days=3)`)."""
    overrides = run.record.get("overrides") or []
    return run.title + (f" ({', '.join(map(str, overrides))})" if overrides else "")


def notebook_links(run: Run) -> list[tuple[str, str]]:
    """(href, text) of the landing page and each notebook page the run has."""
    links = [("report.html", "← Report")]
    for nb in run.record.get("notebooks", []):
        if nb.get("html"):
            # "01 · Data preparation: data quality ..." -> "01 · Data preparation"
            links.append((nb["html"], (nb.get("title") or nb["name"]).split(":")[0]))
    return links


# ----------------------------------------------------------------------------- sections
def _header(run: Run, words: insight.GoalWords, summary: dict) -> str:
    record = run.record
    scored = summary.get("profiles")
    goal = run.optional_json("goal_summary")
    overrides = record.get("overrides") or []
    facts = [
        ("Goal", words.outcome),
        (
            "Who is scored",
            f"{number(scored)} profiles: {words.population}" if scored else words.population,
        ),
        ("Scoring date", summary.get("as_of") or goal.get("as_of") or "–"),
        ("Learned from", _learned_from(goal)),
        ("Reading the scores", words.high_means),
    ]
    if overrides:
        facts.append(
            ("Run with overrides", ", ".join(map(str, overrides)) + " (not in the config file)")
        )
    if record.get("derived_from"):
        facts.append(("Derived from", _derived_text(record)))
    rows = "".join(f"<dt>{esc(k)}</dt><dd>{esc(str(v))}</dd>" for k, v in facts)
    sub = f"{run_title(run)} · run {run.name}"
    return (
        f'<h1>{esc(words.title)}</h1>\n<p class="sub">{esc(sub)}</p>\n<dl class="facts">{rows}</dl>'
    )


def _learned_from(goal: dict) -> str:
    """The dates the scoring model learned from and where it was checked out of time. With
    rolling origins (issue 11) the final model learns from every labelled date, the origins
    included, and each origin was checked by a model trained only on the dates before it."""
    origins = sorted(goal.get("validation_origins") or [])
    training = sorted(set(goal.get("training_cutoffs") or []) | set(origins))
    validation = goal.get("validation_cutoff")
    if not training:
        return "–"
    text = f"{len(training)} past dates ({training[0]} to {training[-1]})"
    if len(origins) > 1:
        shown = ", ".join(origins[:-1]) + f" and {origins[-1]}"
        return text + f"; checked out of time at {shown}, each on the dates before it"
    return text + (f", checked on {validation} (out of time)" if validation else "")


STAGE_PAGES = {
    "prepare_data": "01 data preparation",
    "define_goal": "02 goal definition",
    "compare": "03 model comparison",
    "explain": "04 influential factors",
    "score_and_segment": "05 scores and segments",
}


def _derived_text(record: dict) -> str:
    rerun = [STAGE_PAGES.get(s, s) for s in record.get("rerun") or []]
    return (
        f"run {record['derived_from']}: re-run interactively in JupyterLab "
        f"({', '.join(rerun) or 'nothing re-run yet'}); the earlier stages' files come from "
        "that run, which is left as it was"
    )


def _failure(run: Run) -> str:
    record = run.record
    if record.get("status") != "failed":
        return ""
    failed = next((n for n in record.get("notebooks", []) if n.get("status") == "failed"), None)
    where = (
        f"notebook {(failed.get('title') or failed['name']).split(':')[0]}" if failed else "the run"
    )
    reason = (failed or {}).get("error") or record.get("error") or "see the notebook page"
    todo = (failed or {}).get("todo") or "fix what the reason names, then run again"
    link = (
        f' <a href="{esc(failed["html"])}">Open the page</a>.'
        if failed and failed.get("html")
        else ""
    )
    return (
        f'<p class="note failed"><strong>This run did not finish.</strong> {esc(where)} stopped: '
        f"{esc(reason)}<br>What to do: {esc(todo)}.{link} The sections below show what was "
        "done before it stopped.</p>"
    )


def _verdict(run: Run, hist) -> str:
    if run.record.get("status") == "failed" and not run.has("metrics"):
        return ""  # the failure note above says why there is no verdict
    shifts = insight.scoring_shifts(insight.bucket_table(run), hist)
    churn = insight.goal_words(run.config).churn if run.has("config") else False
    v = insight.verdict(run.optional_json("metrics"), insight.calibration_gap(hist), shifts, churn)
    steps = "".join(f"<li>{esc(s)}</li>" for s in v.next_steps)
    return (
        f'<h2>Verdict</h2>\n<div class="verdict {v.level}"><strong>{esc(v.headline)}</strong>'
        f"<p>Why: {esc(v.reason)}.</p><p>What to do:</p><ul>{steps}</ul></div>"
    )


def _read_first(run: Run) -> str:
    """What the comparison says to doubt (`metrics.json` quality.read_first: poor or uncertain
    figures, scored profiles unlike training, a changing population, a level far off at past
    origins), each in words, before anything is acted on."""
    quality = (run.optional_json("metrics") or {}).get("quality") or {}
    flagged = quality.get("read_first")
    if flagged is None:  # a run written before "read_first" existed
        messages = quality.get("messages") or []
        flagged = [q for q in messages if str(q).startswith(("poor quality", "uncertain"))]
    if not flagged:
        return ""
    items = "\n".join(f"<li>{esc(str(q))}</li>" for q in flagged)
    return f'<h2>Read this first</h2>\n<div class="note"><ul>\n{items}\n</ul></div>'


def _buckets(run: Run, words: insight.GoalWords) -> str:
    table = insight.bucket_table(run)
    if table is None:
        return ""
    top = table.iloc[0]
    lead = (
        f"The <strong>{esc(str(top['bucket']))} bucket</strong> holds {percent(top['share'])} of the "
        f"profiles ({number(int(top['profiles']))}) and {percent(top['expected_share'])} of the "
        f"expected {words.converts} ({number(round(top['expected']))} of "
        f"{number(round(table['expected'].sum()))}). "
        + ("Reach them first with what keeps customers." if words.churn else "Target it first.")
    )
    shown = table[["bucket", "percentiles", "profiles", "share", "range", "mean", "expected"]]
    labels = {
        "percentiles": "percentiles",
        "share": "share of profiles",
        "range": "probability range",
        "mean": "mean probability",
        "expected": f"expected {words.converts}",
    }
    chart = figure(
        _plot("plot_bucket_shares", table, words.converts, size=(8, 2.8)),
        "share of profiles and of expected conversions per bucket",
    )
    return (
        f"<h2>Whom to target: buckets</h2>\n<p>{lead}</p>\n"
        f"{html_table(shown, percent_columns=['share', 'mean'], labels=labels)}\n{chart}"
    )


def _plot(name: str, *args, size: tuple[float, float]):
    from workbench import plots

    return getattr(plots, name)(*args, ax=_axes(size))


def _distribution(run: Run) -> str:
    if not run.has("scores"):
        return ""
    scores = run.read_frame("scores", columns=["probability", "bucket"])
    if scores.empty:
        return ""
    chart = figure(
        _plot("plot_score_histogram", scores, size=(8, 3)), "score distribution by bucket"
    )
    return (
        "<h2>Score distribution</h2>\n<p>Every scored profile's probability, coloured by bucket. "
        "Buckets are bands of the ranking, so a bucket's probabilities can be close to the next "
        "one's.</p>\n" + chart
    )


def _factors(run: Run) -> str:
    table = insight.factor_table(run)
    if table is None or table.empty:
        return ""
    cells = table[["factor"]].copy()
    for bucket in insight.BUCKETS:
        cells[f"{bucket} bucket"] = [
            _factor_cell(v, e)
            for v, e in zip(table[bucket], table[f"{bucket}_effect"], strict=True)
        ]
    chart = ""
    if any(f"{b}_push" in table for b in insight.BUCKETS):
        chart = figure(
            _plot("plot_factor_push", table, size=(8, 0.62 * len(table) + 1.4)),
            "factor push per bucket",
        )
    return (
        "<h2>Why they score high or low: top factors</h2>\n<p>For each factor: the middle half "
        "of the values the bucket's profiles have, and whether it raises or lowers their scores "
        "(for the share of profiles it notably moves).</p>\n"
        + html_table(cells, raw_html=[f"{b} bucket" for b in insight.BUCKETS])
        + chart
    )


def _factor_cell(values: str, effect: str) -> str:
    if not values:
        return "<small>not among its top factors</small>"
    cls = (
        "raises" if effect.startswith("raises") else "lowers" if effect.startswith("lowers") else ""
    )
    return f'{esc(values)}<br><small class="{cls}">{esc(effect)}</small>'


def _segments(run: Run, scored, words: insight.GoalWords) -> str:
    table = insight.segment_table(run, scored)
    if table is None or table.empty:
        return ""
    table["download"] = [
        f'<a href="{esc(f)}">{esc(Path(f).name)}</a>' if f else "–" for f in table["file"]
    ]
    shown = table[["segment", "rule", "size", "share", "expected_conversions", "download"]]
    labels = {
        "size": "profiles",
        "share": "share of scored",
        "expected_conversions": f"expected {words.converts}",
    }
    return (
        "<h2>Segments: ready-made audiences</h2>\n<p>Each is a CSV of profile ids with their "
        "scores, to upload to a campaign tool.</p>\n"
        + html_table(shown, percent_columns=["share"], labels=labels, raw_html=["download"])
    )


def _history(hist, words: insight.GoalWords) -> str:
    if hist is None or hist.empty:
        return ""
    origins = sorted(hist["origin"].unique())
    shown = hist[
        ["origin", "bucket", "profiles", "expected", "actual", "expected_rate", "actual_rate"]
    ]
    labels = {
        "origin": "validation date",
        "expected": f"expected {words.converts}",
        "actual": f"actual {words.converts}",
        "expected_rate": "expected rate",
        "actual_rate": "actual rate",
    }
    chart = figure(
        _plot("plot_history", hist, words.converts, size=(min(4 + 2.2 * len(origins), 11), 3.2)),
        "expected vs actual per bucket",
    )
    intro = (
        f"At {'each past validation date' if len(origins) > 1 else 'the validation date'} the "
        "model scored profiles it had not learned from; here is what it expected against what "
        "then happened. Close bars mean volumes can be planned from the scores."
    )
    return f"<h2>Historical performance</h2>\n<p>{intro}</p>\n{chart}\n" + html_table(
        shown, percent_columns=["expected_rate", "actual_rate"], labels=labels
    )


def _pages(run: Run) -> str:
    rows = []
    for nb in run.record.get("notebooks", []):
        title = esc(nb.get("title") or nb["name"])
        link = f'<a href="{esc(nb["html"])}">{title}</a>' if nb.get("html") else title
        ipynb = f'<a href="{esc(nb["ipynb"])}">notebook</a>' if nb.get("ipynb") else ""
        status = "done" if nb["status"] == "ok" else f"stopped: {nb.get('error') or 'failed'}"
        cls = "" if nb["status"] == "ok" else ' class="failed"'
        rows.append(
            f'<tr{cls}><td>{link}</td><td>{esc(status)}</td><td class="num">'
            f"{nb.get('seconds', 0):.0f} s</td><td>{ipynb}</td></tr>"
        )
    if not rows:
        return ""
    return (
        "<h2>The analysis, step by step</h2>\n<table><thead><tr><th>page</th><th>status</th>"
        f"<th>time</th><th>to re-run</th></tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _files(run: Run) -> str:
    items = []
    for item in ARTIFACTS:
        p = run.file(item.name)
        if item.name in LINKED and p.exists():
            href = item.file + "/" if p.is_dir() else item.file
            items.append(
                f'<li><a href="{esc(href)}">{esc(item.holds)}</a> <code>{esc(href)}</code></li>'
            )
    return "<h2>Files of this run</h2>\n<ul>" + "".join(items) + "</ul>" if items else ""


def _model_details(run: Run) -> str:
    """The analyst's figures in one line (from `display.headline`), below the marketer's."""
    from workbench.reporting.display import _fmt, headline

    figures = headline(run)
    kinds = {"validation ROC AUC": "", "lift in top decile": "x", "base rate": "pct"}
    parts = [
        f"{name} {_fmt(value, kinds.get(name, ''))}"
        for name, value in figures.items()
        if value is not None and name != "bucket sizes"
    ]
    if not parts:
        return ""
    return (
        '<h2>For analysts</h2>\n<p class="sub">'
        + esc(" · ".join(parts))
        + ". The comparison of the models is on the model comparison page.</p>"
    )


def _details(run: Run) -> str:
    record = run.record
    took = record.get("seconds")
    parts = [f"run {run.name}", f"started {str(record.get('started', '–')).replace('T', ' ')}"]
    if took is not None:
        parts.append(f"took {float(took):.0f} s")
    if record.get("kernel"):
        parts.append(f"kernel {record['kernel']}")
    return f'<p class="sub">{esc(" · ".join(parts))}</p>'


# ----------------------------------------------------------------------------- the page
class _Watched(Run):
    """The same run folder, remembering each file a section looked at (present or not)."""

    def __init__(self, path):
        super().__init__(path)
        self.looked_at: set[str] = set()

    def file(self, name: str) -> Path:
        self.looked_at.add(name)
        return super().file(name)


def _state(run: Run, names) -> tuple:
    """(name, size, modification time) of each file, None for one that is not there."""
    state = []
    for name in sorted(names):
        try:
            st = run.file(name).stat()
            state.append((name, st.st_size, st.st_mtime_ns))
        except OSError:
            state.append((name, None, None))
    return tuple(state)


def draw_early(run: Run) -> dict[str, tuple[str, tuple]]:
    """The landing page's factor and history sections, drawn while the last notebook runs (the
    figures are a third of the page's time, which the user waits for after the last notebook),
    each with the state of the files it read: `write_report(run, early=...)` uses a section
    only when none of those files has changed or appeared since, and draws it again otherwise."""
    drawn = {}
    for key, section in (
        ("factors", _factors),
        ("history", lambda r: _history(insight.history(r), insight.goal_words(r.config))),
    ):
        watched = _Watched(run.path)
        html_text = section(watched)
        drawn[key] = (html_text, _state(run, watched.looked_at))
    return drawn


def _early_or_now(run: Run, early, key: str, draw) -> str:
    html_text, state = (early or {}).get(key, (None, None))
    if html_text is not None and _state(run, [n for n, *_ in state]) == state:
        return html_text
    return draw()


def write_report(run: Run, early: dict | None = None) -> Path:
    """Write `report.html` (see the module docstring). A `workbench score` run says which
    saved model scored instead of a verdict; a `workbench backtest` run leads with what
    happened after its date (`reporting.command_pages`). `early`: sections `draw_early` made,
    used where the files they were drawn from are unchanged."""
    from workbench.reporting.command_pages import backtest_section, score_section

    try:
        config = run.config
    except Exception:  # no readable config: a page that says so beats no page
        body = _failure(run) + _verdict(run, None) + _pages(run) + _files(run)
        return run.write_text("report", document(f"Report {run.name}", body))
    kind = run.record.get("kind")
    words = insight.goal_words(config)
    summary = run.optional_json("score_summary")
    hist = insight.history(run) if kind != "score" else None
    body = [
        nav(notebook_links(run), here="report.html"),
        _header(run, words, summary),
        _failure(run),
        score_section(run) if kind == "score" else _verdict(run, hist),
        _read_first(run) if kind != "score" else "",
        backtest_section(run) if kind == "backtest" else "",
        _buckets(run, words),
        _distribution(run),
        _early_or_now(run, early, "factors", lambda: _factors(run)),
        _segments(run, summary.get("profiles"), words),
        # decisions (issue 15): the target size, the cohorts served badly, every run over time
        decisions.economics_section(run),
        decisions.cohorts_section(run),
        # (a score run has no history section: `draw_early` draws one whatever the kind)
        _early_or_now(
            run, early if kind != "score" else None, "history", lambda: _history(hist, words)
        ),
        decisions.history_link(run),
        _pages(run),
        _model_details(run),
        _files(run),
        _details(run),
    ]
    what = {"score": "scores", "backtest": "backtest"}.get(kind, "report")
    title = f"{words.title} – {run_title(run)} – {what} {run.name}"
    return run.write_text("report", document(title, "\n".join(b for b in body if b)))
