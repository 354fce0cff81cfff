#!/usr/bin/env python3
"""Draws docs/img/overhead.svg: what each layer adds to a bare call, for every contender.

Reads criterion's estimates (``<criterion dir>/<group>/<benchmark>/new/estimates.json``) of
the success-path groups written by ``cargo bench -p steadfast-benches --bench peers``, and
subtracts each group's ``bare`` figure from every other contender's. Also prints the figures
as a Markdown table, so the document and the plot come from the same numbers.

It then prints every other ``peers_*`` group (contention, failure paths): with one run, with
criterion's 95% confidence interval; with several, with each run's estimate.

Standard library only: the SVG is written by hand.

Given several criterion directories (copies of ``target/criterion`` from separate runs), every
figure is the median of the runs' estimates.

Usage: overhead.py [--criterion DIR [DIR ...]] [--out FILE]
(defaults: $CARGO_TARGET_DIR/criterion or target/criterion, and docs/img/overhead.svg)
"""

import argparse
import json
import math
import os
import statistics
import sys
from html import escape

# (criterion group, title) in the order the panels are drawn.
GROUPS = [
    ("peers_retry", "Retry"),
    ("peers_breaker", "Circuit breaker (closed)"),
    ("peers_timeout", "Timeout, 30 s"),
    ("peers_stack", "Full stack: timeout, retry, breaker"),
]

# benchmark id -> (label, crate); the crate picks the colour.
CONTENDERS = {
    "steadfast": ("steadfast", "steadfast"),
    "steadfast_static": ("steadfast, &'static", "steadfast"),
    "steadfast_no_timeout": ("steadfast, no timeout", "steadfast"),
    "tower_retry": ("tower::retry", "tower"),
    "tower_retry_default_like": ("tower::retry, policy like steadfast's default", "tower"),
    "tower_timeout": ("tower::timeout", "tower"),
    "tower": ("tower (no breaker)", "tower"),
    "tower_resilience": ("tower-resilience", "tower-resilience"),
    "seatbelt": ("seatbelt", "seatbelt"),
    "failsafe": ("failsafe", "failsafe"),
}

# group -> (ns over bare, label): a target drawn as a dashed line.
TARGETS = {
    "peers_stack": (120.0, "target: 120 ns over bare"),
}

COLOURS = {
    "steadfast": "#1b6ca8",
    "tower": "#7f7f7f",
    "tower-resilience": "#d95f02",
    "seatbelt": "#1b9e77",
    "failsafe": "#7570b3",
}


def run_estimate(criterion_dir, group, bench):
    """One run's headline figure in ns, as (estimate, CI low, CI high): criterion's slope
    where it fitted one, else its mean. None if the run has no such benchmark."""
    path = os.path.join(criterion_dir, group, bench, "new", "estimates.json")
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    est = data.get("slope") or data["mean"]
    ci = est["confidence_interval"]
    return est["point_estimate"], ci["lower_bound"], ci["upper_bound"]


def runs(criterion_dirs, group, bench):
    """Every run's figure for one benchmark."""
    found = (run_estimate(d, group, bench) for d in criterion_dirs)
    return [r for r in found if r is not None]


def estimate(criterion_dirs, group, bench):
    """The median over the runs of the headline figure, in ns."""
    found = runs(criterion_dirs, group, bench)
    if not found:
        return None
    return statistics.median(r[0] for r in found)


def collect(criterion_dirs):
    """{group: (bare ns, [(label, crate, ns, overhead ns)])} for the groups that were run."""
    panels = {}
    for group, _ in GROUPS:
        bare = estimate(criterion_dirs, group, "bare")
        if bare is None:
            continue
        rows = []
        for bench, (label, crate) in CONTENDERS.items():
            ns = estimate(criterion_dirs, group, bench)
            if ns is not None:
                rows.append((label, crate, ns, ns - bare))
        rows.sort(key=lambda r: r[3])
        panels[group] = (bare, rows)
    return panels


def fmt(ns):
    if ns >= 100:
        return f"{ns:.0f}"
    if ns >= 10:
        return f"{ns:.1f}"
    return f"{ns:.2f}"


def svg(panels):
    """The chart: one panel per layer, a horizontal bar per contender, log-scale ns."""
    width = 860
    label_w = 190
    plot_w = width - label_w - 90
    bar_h = 18
    gap = 6
    panel_gap = 46
    top = 58
    overheads = [r[3] for _, rows in panels.values() for r in rows]
    peak = max(overheads, default=1.0)
    # Overheads at or below the floor are drawn at the floor (and labelled as measured).
    floor = 10.0 ** math.floor(math.log10(max(min(overheads, default=1.0), 0.1)))
    decades = range(int(math.floor(math.log10(floor))), int(math.ceil(math.log10(peak))) + 1)
    lo, hi = math.log10(floor), max(decades)

    def x(ns):
        v = math.log10(max(ns, floor))
        return label_w + (v - lo) / (hi - lo) * plot_w

    height = top
    for group, _ in GROUPS:
        if group in panels:
            height += 24 + len(panels[group][1]) * (bar_h + gap) + panel_gap
    height += 40

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="{width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">'
        "Time each layer adds to a bare call (success path, ns, log scale)</text>",
        f'<text x="{width / 2}" y="42" text-anchor="middle" fill="#555">'
        "contender minus bare in the same group; smaller is better</text>",
    ]
    y = top
    for group, title in GROUPS:
        if group not in panels:
            continue
        bare, rows = panels[group]
        out.append(
            f'<text x="10" y="{y + 14}" font-weight="bold">{escape(title)} '
            f'<tspan font-weight="normal" fill="#555">(bare: {fmt(bare)} ns)</tspan></text>'
        )
        y += 24
        body_top = y
        body_h = len(rows) * (bar_h + gap)
        for d in decades:
            gx = x(10.0**d)
            out.append(
                f'<line x1="{gx:.1f}" y1="{body_top - 2}" x2="{gx:.1f}" '
                f'y2="{body_top + body_h - gap + 2}" stroke="#ddd"/>'
            )
        for label, crate, _ns, over in rows:
            w = x(over) - label_w
            out.append(
                f'<text x="{label_w - 8}" y="{y + bar_h - 5}" text-anchor="end">'
                f"{escape(label)}</text>"
            )
            out.append(
                f'<rect x="{label_w}" y="{y}" width="{max(w, 1):.1f}" height="{bar_h}" '
                f'fill="{COLOURS[crate]}"/>'
            )
            out.append(
                f'<text x="{label_w + max(w, 1) + 5:.1f}" y="{y + bar_h - 5}">'
                f"+{fmt(over)}</text>"
            )
            y += bar_h + gap
        if group in TARGETS:
            tx = x(TARGETS[group][0])
            out.append(
                f'<line x1="{tx:.1f}" y1="{body_top - 6}" x2="{tx:.1f}" '
                f'y2="{body_top + body_h - gap + 2}" stroke="#c00" stroke-dasharray="4,3"/>'
            )
            out.append(
                f'<text x="{tx + 4:.1f}" y="{body_top - 8}" fill="#c00" font-size="10">'
                f"{escape(TARGETS[group][1])}</text>"
            )
        for d in decades:
            gx = x(10.0**d)
            value = 10.0**d
            text = f"{value:g}"
            out.append(
                f'<text x="{gx:.1f}" y="{y + 10}" text-anchor="middle" fill="#555" '
                f'font-size="10">{text}</text>'
            )
        y += panel_gap - gap
    # Legend.
    lx = label_w
    for crate, colour in COLOURS.items():
        out.append(f'<rect x="{lx}" y="{y}" width="12" height="12" fill="{colour}"/>')
        out.append(f'<text x="{lx + 16}" y="{y + 10}">{escape(crate)}</text>')
        lx += 24 + 8 * len(crate) + 20
    out.append("</svg>")
    return "\n".join(out) + "\n"


def table(panels):
    lines = []
    for group, title in GROUPS:
        if group not in panels:
            continue
        bare, rows = panels[group]
        lines.append(f"{title} (bare {fmt(bare)} ns)")
        lines.append("")
        lines.append("| contender | ns/call | over bare |")
        lines.append("|---|---:|---:|")
        for label, _crate, ns, over in rows:
            lines.append(f"| {label} | {fmt(ns)} | +{fmt(over)} |")
        lines.append("")
    return "\n".join(lines)


def listing(path):
    try:
        return sorted(os.listdir(path))
    except FileNotFoundError:
        return []


def other_groups(criterion_dirs):
    """Markdown tables of every peers_* group that is not a success-path panel."""
    panel_groups = {g for g, _ in GROUPS}
    groups = sorted({g for d in criterion_dirs for g in listing(d) if g.startswith("peers_")})
    lines = []
    for group in groups:
        if group in panel_groups:
            continue
        benches = sorted(
            {b for d in criterion_dirs for b in listing(os.path.join(d, group)) if b != "report"}
        )
        rows = [(b, runs(criterion_dirs, group, b)) for b in benches]
        rows = [(b, found) for b, found in rows if found]
        if not rows:
            continue
        lines.append(group)
        lines.append("")
        if len(criterion_dirs) == 1:
            lines.append("| benchmark | ns/call | 95% CI |")
        else:
            lines.append("| benchmark | ns/call (median) | each run |")
        lines.append("|---|---:|---|")
        for bench, found in rows:
            median = statistics.median(r[0] for r in found)
            if len(criterion_dirs) == 1:
                detail = f"{fmt(found[0][1])} to {fmt(found[0][2])}"
            else:
                detail = ", ".join(fmt(r[0]) for r in found)
            lines.append(f"| {bench} | {fmt(median)} | {detail} |")
        lines.append("")
    return "\n".join(lines)


def main():
    target = os.environ.get("CARGO_TARGET_DIR", "target")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--criterion", nargs="+", default=[os.path.join(target, "criterion")])
    parser.add_argument("--out", default=os.path.join("docs", "img", "overhead.svg"))
    args = parser.parse_args()

    panels = collect(args.criterion)
    if not panels:
        sys.exit(f"no estimates under {args.criterion}: run the peers benchmark first")
    if len(args.criterion) > 1:
        print(f"medians over {len(args.criterion)} runs\n")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(svg(panels))
    print(table(panels))
    print(other_groups(args.criterion))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
