"""The HTML report of `ratecard simulate -o report.html`: one self-contained page (styles and
charts inline, no script, nothing fetched from the network) with the summary tables and three
charts drawn by matplotlib as inline SVG: the distribution of the per-account change, revenue by
meter before and after, and the biggest movers.

Numbers in the tables are the simulation's exact decimals; the charts draw them (a picture's
coordinates are floats, and nothing is computed from them).
"""

from __future__ import annotations

import io
import re
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ratecard.errors import UsageError

if TYPE_CHECKING:
    from ratecard.warehouse.simulate import Simulation

#: Colours of the charts: old (grey) and new (blue), up (red: customers pay more) and down.
OLD, NEW, UP, DOWN = "#9aa0a6", "#1a73e8", "#d93025", "#188038"


def check_report_path(path: str) -> None:
    """UsageError before anything runs: the report is an .html file, and matplotlib (the
    `simulate` extra) is installed."""
    if not path.lower().endswith((".html", ".htm")):
        raise UsageError(f"{path}: the report is written to an .html file")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError(
            "the HTML report needs matplotlib: pip install 'ratecard[simulate]'"
        ) from None


def write_report(sim: Simulation, path: str) -> None:
    """Write the report of `sim` to `path`."""
    text = render_report(sim)
    try:
        with open(path, "w", encoding="utf-8") as stream:
            stream.write(text)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None


def render_report(sim: Simulation) -> str:
    """The report's HTML text."""
    import jinja2

    from ratecard.warehouse.display import grouped, percent_text

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
    env.filters["money"] = grouped
    env.filters["signed"] = lambda value: grouped(value, True)
    env.filters["pct"] = percent_text
    charts = {
        "distribution": _distribution(sim),
        "meters": _meters(sim),
        "movers": _movers(sim),
    }
    return env.from_string(TEMPLATE).render(
        sim=sim, charts={k: v for k, v in charts.items() if v is not None}, markup=_markup
    )


def _markup(svg: str) -> Any:
    import markupsafe

    return markupsafe.Markup(svg)


def _figure(width: float, height: float) -> Any:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=96)
    return figure


def _svg(figure: Any) -> str:
    """The figure as inline SVG: fonts drawn as paths (nothing to load), no XML prolog, no
    metadata, ids fixed (the same report for the same simulation)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "path", "svg.hashsalt": "ratecard"}):
        figure.savefig(
            buffer, format="svg", bbox_inches="tight",
            metadata={"Date": None, "Creator": None, "Format": None, "Type": None},
        )
    text = buffer.getvalue()
    start = text.find("<svg")
    text = text[start:]
    # The metadata block (a Dublin Core description) is of no use inline, nor are namespace
    # declarations (HTML knows `svg` and `xlink:href`): nothing on the page names a URL.
    text = re.sub(r"<metadata>.*?</metadata>\s*", "", text, flags=re.S)
    return re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", text)


# The charts below hand matplotlib floats: they are drawing coordinates (bar lengths and
# positions, axis ticks), never an amount the report states. Every amount a reader reads is in
# the report's tables, formatted from the exact Decimals.


def _distribution(sim: Simulation) -> str | None:
    if not sim.histogram:
        return None
    figure = _figure(7.5, 3.2)
    axes = figure.subplots()
    lows = [float(Decimal(low).scaleb(-2)) for low, _, _ in sim.histogram]
    widths = [float(Decimal(high - low).scaleb(-2)) for low, high, _ in sim.histogram]
    counts = [count for _, _, count in sim.histogram]
    colours = [UP if low > 0 else DOWN if high <= 0 else OLD for low, high, _ in sim.histogram]
    axes.bar(lows, counts, width=widths, align="edge", color=colours, edgecolor="white")
    axes.set_xlabel("change of the account's total, % of its old total (1st to 99th percentile)")
    axes.set_ylabel("accounts")
    from matplotlib.ticker import MaxNLocator

    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _meters(sim: Simulation) -> str | None:
    if not sim.meters:
        return None
    figure = _figure(7.5, 0.5 + 0.45 * len(sim.meters))
    axes = figure.subplots()
    names = [c.name if c.name != "*" else "* (true-up)" for c in sim.meters][::-1]
    places = list(range(len(names)))
    old = [float(c.old) for c in sim.meters][::-1]
    new = [float(c.new) for c in sim.meters][::-1]
    axes.barh([p + 0.2 for p in places], old, height=0.4, color=OLD, label="old")
    axes.barh([p - 0.2 for p in places], new, height=0.4, color=NEW, label="new")
    axes.set_yticks(places, names)
    axes.set_xlabel(f"revenue ({sim.currency})")
    axes.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


def _movers(sim: Simulation) -> str | None:
    movers = [*sim.movers_up, *sim.movers_down[::-1]]
    if not movers:
        return None
    figure = _figure(7.5, 0.5 + 0.3 * len(movers))
    axes = figure.subplots()
    names = [m.account for m in movers][::-1]
    deltas = [float(m.delta) for m in movers][::-1]
    colours = [UP if m.delta > 0 else DOWN for m in movers][::-1]  # the sign, from the Decimal
    axes.barh(range(len(names)), deltas, color=colours)
    axes.set_yticks(range(len(names)), names)
    axes.axvline(0, color="#5f6368", linewidth=0.8)
    axes.set_xlabel(f"change of the account's total ({sim.currency})")
    axes.spines[["top", "right"]].set_visible(False)
    return _svg(figure)


TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Price change simulation: {{ sim.old_file }} → {{ sim.new_file }}</title>
<style>
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #202124;
       max-width: 62rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.5rem; margin-bottom: .2rem; }
h2 { font-size: 1.15rem; margin-top: 2rem; border-bottom: 1px solid #dadce0; }
.note { background: #fef7e0; border-left: 4px solid #f9ab00; padding: .5rem .8rem; }
.muted { color: #5f6368; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { padding: .2rem .7rem; text-align: right; border-bottom: 1px solid #f1f3f4; }
th:first-child, td:first-child { text-align: left; }
.up { color: #d93025; } .down { color: #188038; }
.headline { display: flex; gap: 2.5rem; flex-wrap: wrap; margin: 1rem 0; }
.headline div { font-size: .85rem; color: #5f6368; }
.headline b { display: block; font-size: 1.5rem; color: #202124; }
svg { max-width: 100%; height: auto; }
</style>
</head>
<body>
<h1>Price change simulation</h1>
<p class="muted">{{ sim.old_file }} → {{ sim.new_file }} · {{ sim.accounts }} accounts ·
{{ sim.currency }} · {{ sim.engine }},
{% if sim.one_scan %}usage metered once{% else -%}
usage metered twice ({{ sim.two_scans_because }}){% endif %}</p>
<p class="note">Usage is assumed unchanged by the price change: every account's usage is billed
as it was recorded, under both rules files. Customers who react to new prices are not modelled.</p>

{% macro cls(value) %}{% if value > 0 %}up{% elif value < 0 %}down{% endif %}{% endmacro %}
<div class="headline">
  <div>old revenue<b>{{ sim.old_total | money }}</b></div>
  <div>new revenue<b>{{ sim.new_total | money }}</b></div>
  <div>change<b class="{{ cls(sim.delta) }}">{{ sim.delta | signed }}
    ({{ sim.percent | pct }})</b></div>
  <div>accounts up / down / unchanged<b>{{ sim.up }} / {{ sim.down }} / {{ sim.same }}</b></div>
</div>
{% if sim.from_zero %}<p>{{ sim.from_zero }} accounts billed nothing under the old rules are
billed under the new ones.</p>{% endif %}
{% if sim.left_out %}<p>{{ sim.left_out }} account months that one of the files cannot bill are
left out of the comparison (listed at the end).</p>{% endif %}

<h2>Change per account</h2>
{% if charts.distribution %}{{ markup(charts.distribution) }}{% endif %}
{% if sim.percentiles %}
<table>
<tr><th>percentile</th><th>change</th><th>% of the old total</th></tr>
{% for p in sim.percentiles %}<tr><td>p{{ p.percentile }}</td>
<td class="{{ cls(p.delta) }}">{{ p.delta | signed }}</td><td>{{ p.percent | pct }}</td></tr>
{% endfor %}</table>
<p class="muted">Nearest-rank percentiles, of the change in money over every account and of the
change in percent over the accounts with an old total above zero (rounded to 0.01%).</p>
{% endif %}

<h2>Revenue by meter</h2>
{% if charts.meters %}{{ markup(charts.meters) }}{% endif %}
<table>
<tr><th>meter</th><th>old</th><th>new</th><th>change</th><th>%</th></tr>
{% for c in sim.meters %}<tr><td>{{ c.name if c.name != "*" else "* (minimum spend true-up)" }}</td>
<td>{{ c.old | money }}</td><td>{{ c.new | money }}</td>
<td class="{{ cls(c.delta) }}">{{ c.delta | signed }}</td><td>{{ c.percent | pct }}</td></tr>
{% endfor %}</table>

<h2>Months</h2>
<table>
<tr><th>month</th><th>old</th><th>new</th><th>change</th><th>%</th><th>accounts</th></tr>
{% for c in sim.months %}<tr><td>{{ c.name }}</td><td>{{ c.old | money }}</td>
<td>{{ c.new | money }}</td><td class="{{ cls(c.delta) }}">{{ c.delta | signed }}</td>
<td>{{ c.percent | pct }}</td><td>{{ c.accounts }}</td></tr>
{% endfor %}</table>

<h2>Biggest movers</h2>
{% if charts.movers %}{{ markup(charts.movers) }}{% endif %}
{% for title, movers in (("Up", sim.movers_up), ("Down", sim.movers_down)) %}
<h3>{{ title }}</h3>
{% if movers %}<table>
<tr><th>account</th><th>old</th><th>new</th><th>change</th><th>%</th></tr>
{% for m in movers %}<tr><td>{{ m.account }}</td><td>{{ m.old | money }}</td>
<td>{{ m.new | money }}</td><td class="{{ cls(m.delta) }}">{{ m.delta | signed }}</td>
<td>{{ m.percent | pct }}</td></tr>
{% endfor %}</table>{% else %}<p class="muted">none</p>{% endif %}
{% endfor %}

{% set bad = sim.old.invalid|length + sim.new.invalid|length
   + sim.old.problems|length + sim.new.problems|length %}
{% if bad %}<h2>Left out</h2>
<ul>
{% for i in sim.old.invalid %}<li>{% if not sim.one_scan %}{{ sim.old_file }}: {% endif %}
{{- i.describe() }}</li>{% endfor %}
{% if not sim.one_scan %}{% for i in sim.new.invalid %}<li>{{ sim.new_file }}:
{{ i.describe() }}</li>{% endfor %}{% endif %}
{% for p in sim.old.problems %}<li>{{ sim.old_file }}: not billed:
{{ p.describe() }}</li>{% endfor %}
{% for p in sim.new.problems %}<li>{{ sim.new_file }}: not billed:
{{ p.describe() }}</li>{% endfor %}
</ul>{% endif %}
<p class="muted">Made by <code>ratecard simulate</code>: both rules files billed every account as
<code>ratecard warehouse</code> bills it; money is exact.</p>
</body>
</html>
"""
