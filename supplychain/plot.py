"""Plotly figures of the analyses; each function returns a :class:`plotly.graph_objects.Figure`
(nothing is shown or fetched: figures render offline in JupyterLab and in reports).

>>> import supplychain as sc
>>> con = sc.connect()
>>> fig = criticality_ranking(pd.DataFrame(columns=["rank", "company", "company_name", "buyers_lost", "programs_lost",
...                                                 "parts_lost", "value_lost"]))
>>> fig.layout.title.text
'Chokepoints: what fails if the company alone fails'
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from .graph import supply_network
from .risk.sourcing import sourcing

__all__ = [
    "offline_notebook",
    "network",
    "tier_sunburst",
    "tier_profile",
    "criticality_ranking",
    "failure_paths",
    "exposure_by_country",
    "exposure_sankey",
    "calibration_curve",
    "roc_pr",
    "withdrawal_drivers",
    "early_warning_matrix",
    "scenario_days",
    "plan_before_after",
    "CLASS_COLORS",
    "GROUP_COLORS",
]


def offline_notebook(renderer: str = "plotly_mimetype") -> str:
    """Show figures in JupyterLab without the network: figures go out as plotly's own MIME type,
    which JupyterLab draws with the extension plotly installs (plotly.js included). Plotly's
    ``notebook`` renderer is not used: its HTML loads MathJax from a CDN. Returns the renderer now
    the default (the notebooks call this first).

    >>> offline_notebook()
    'plotly_mimetype'
    """
    import plotly.io as pio

    pio.renderers.default = renderer
    return renderer


#: Edge colours by the sourcing class of the buyer's part.
CLASS_COLORS = {"sole": "#c0392b", "single": "#e67e22", "multi": "#95a5a6"}
#: Country colours by group (:meth:`supplychain.options.Options.country_group`).
GROUP_COLORS = {"concern": "#c0392b", "other": "#e67e22", "allied": "#2e86c1", "domestic": "#27ae60", "unknown": "#bdc3c7"}
GROUP_ORDER = ("concern", "other", "allied", "domestic", "unknown")


def _one_program(con, wave, program):
    if not isinstance(program, str):
        raise TypeError("program must be one program id, e.g. program='FX-3'")
    return supply_network(con, wave=wave, program=program)


def _layout_by_tier(net) -> tuple[np.ndarray, np.ndarray]:
    """x = tier (prime at 0, unreachable companies one tier beyond the deepest), y = position in
    the tier, ordered by the mean position of each node's buyers so that links cross less."""
    tiers = net.tiers.copy()
    tiers[tiers < 0] = tiers.max(initial=0) + 1
    y = np.zeros(net.n_nodes)
    buyers_of = {}
    for s, b in zip(net.link_supplier.tolist(), net.link_buyer.tolist()):
        buyers_of.setdefault(s, []).append(b)
    labels = net.node_labels()
    for t in range(int(tiers.max(initial=0)) + 1):
        members = np.flatnonzero(tiers == t)
        key = [(np.mean([y[b] for b in buyers_of.get(n, [])]) if buyers_of.get(n) else 0.0, str(labels[n])) for n in members]
        order = sorted(range(len(members)), key=lambda i: key[i])
        for rank, i in enumerate(order):
            y[members[i]] = rank - (len(members) - 1) / 2
    return tiers.astype(float), y


def network(con, *, wave: int, program: str, max_nodes: int = 3000) -> go.Figure:
    """One program's network by tier: the prime at the left, each tier a column, links coloured
    by the sourcing class of the part they deliver (sole red, single orange, multi grey).
    Hover a node for the company and its tier. Programs larger than ``max_nodes`` are refused
    (draw a neighbourhood from :func:`~supplychain.build_graph` instead)."""
    net = _one_program(con, wave, program)
    if net.n_nodes > max_nodes:
        raise ValueError(f"program {program} has {net.n_nodes:,} companies; more than max_nodes={max_nodes:,} is unreadable")
    x, y = _layout_by_tier(net)
    s = sourcing(con, wave=wave, program=program)
    labels = net.node_labels()
    names = net.companies["name"].to_numpy(object)[net.node_company]
    ln = net.links
    buyer = net.link_buyer
    cls = pd.Series(list(zip(labels[buyer], net.part_ids(ln["part"].to_numpy())))).map(
        dict(zip(zip(s["buyer"], s["part_id"]), s["classification"]))
    )
    fig = go.Figure()
    for c in ("multi", "single", "sole"):
        idx = np.flatnonzero((cls == c).to_numpy())
        if not len(idx):
            continue
        sx = np.column_stack([x[net.link_supplier[idx]], x[buyer[idx]], np.full(len(idx), np.nan)]).ravel()
        sy = np.column_stack([y[net.link_supplier[idx]], y[buyer[idx]], np.full(len(idx), np.nan)]).ravel()
        fig.add_trace(
            go.Scatter(
                x=sx,
                y=sy,
                mode="lines",
                line={"color": CLASS_COLORS[c], "width": 1.6 if c != "multi" else 0.7},
                name=f"{c} source",
                hoverinfo="skip",
            )
        )
    tiers = net.tiers
    hover = [
        f"{n}<br>{lab}<br>tier {t if t >= 0 else 'unreachable'}"
        for n, lab, t in zip(names.tolist(), labels.tolist(), tiers.tolist())
    ]
    fig.add_trace(
        go.Scatter(
            x=x,
            y=y,
            mode="markers",
            marker={"size": 7, "color": "#2c3e50"},
            text=hover,
            hoverinfo="text",
            name="company",
        )
    )
    fig.update_layout(
        title=f"{program}: supply network by tier (wave {wave})",
        xaxis={"title": "tier (0 = prime)", "dtick": 1},
        yaxis={"visible": False},
        template="plotly_white",
        # above the plot: at the bottom the legend covers the axis title
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1.0},
    )
    return fig


def tier_sunburst(con, *, wave: int, program: str) -> go.Figure:
    """Who delivers what to a program, by tier: program → tier → company, each company sized by
    the annual value of its deliveries in the program (companies without values count 1 yen,
    so they still show)."""
    net = _one_program(con, wave, program)
    labels = net.node_labels()
    names = net.companies["name"].to_numpy(object)[net.node_company]
    value = np.bincount(
        net.link_supplier,
        weights=net.links["annual_value_jpy"].to_numpy(dtype="float64", na_value=0.0),
        minlength=net.n_nodes,
    )
    value = np.maximum(value, 1.0)
    tiers = net.tiers
    tier_name = np.array([f"tier {t}" if t >= 0 else "unreachable" for t in tiers.tolist()], dtype=object)
    keep = tiers != 0
    ids = [program] + [f"{program}/{t}" for t in pd.unique(tier_name[keep])]
    parents = [""] + [program] * (len(ids) - 1)
    texts = [program] + list(pd.unique(tier_name[keep]))
    values = [0.0] * len(ids)
    for n in np.flatnonzero(keep).tolist():
        ids.append(f"{program}/{tier_name[n]}/{labels[n]}")
        parents.append(f"{program}/{tier_name[n]}")
        texts.append(str(names[n]))
        values.append(float(value[n]))
    fig = go.Figure(go.Sunburst(ids=ids, parents=parents, labels=texts, values=values, branchvalues="remainder"))
    fig.update_layout(title=f"{program}: suppliers by tier, sized by annual deliveries (wave {wave})")
    return fig


def tier_profile(profile: pd.DataFrame, *, title: str | None = None) -> go.Figure:
    """Stacked bars of companies per tier, by the worst sourcing class of the parts each
    supplies (sole red, single orange, multi grey): the shape of a network of any size.
    ``profile`` has ``tier`` (-1: not reachable from the prime), ``classification`` and
    ``companies`` (as :func:`supplychain.report.content.tier_profile` builds it)."""
    fig = go.Figure()
    for c in ("sole", "single", "multi"):
        g = profile[profile["classification"] == c].sort_values("tier")
        if len(g):
            ticks = [str(t) if t >= 0 else "unreachable" for t in g["tier"].tolist()]
            fig.add_bar(x=ticks, y=g["companies"], name=f"{c} source", marker_color=CLASS_COLORS[c])
    fig.update_layout(
        barmode="stack",
        title=title or "Companies by tier",
        xaxis={"title": "tier (1 = the prime's direct suppliers)", "type": "category"},
        yaxis={"title": "companies"},
        template="plotly_white",
        height=320,
    )
    return fig


def criticality_ranking(criticality: pd.DataFrame, *, top: int = 20, by: str = "buyers_lost") -> go.Figure:
    """Horizontal bars of the ``top`` chokepoints of :func:`supplychain.risk.criticality`:
    companies lost (or ``by`` another numeric column), coloured by programs lost."""
    df = criticality.head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=df[by],
            y=[f"{n} ({c})" for n, c in zip(df["company_name"], df["company"])],
            orientation="h",
            marker={"color": df["programs_lost"], "colorscale": "Reds", "colorbar": {"title": "programs lost"}},
            customdata=np.column_stack([df["parts_lost"], df["value_lost"] / 1e6]) if len(df) else None,
            hovertemplate="%{y}<br>" + by + " %{x}<br>parts lost %{customdata[0]}<br>¥%{customdata[1]:,.0f}m/yr<extra></extra>",
        )
    )
    fig.update_layout(
        title="Chokepoints: what fails if the company alone fails",
        xaxis={"title": by.replace("_", " ")},
        template="plotly_white",
        height=max(300, 24 * len(df) + 120),
    )
    return fig


def failure_paths(paths, *, names: dict | None = None, title: str = "Chains of failure") -> go.Figure:
    """Chains of failure drawn left to right, one row per chain, the end of every chain (the
    buyer that loses its part) aligned at the right and companies shared by several chains drawn
    once: the picture of a hidden convergence (``paths`` of
    :func:`~supplychain.risk.hidden_convergence`: lists of company labels, upstream first).
    ``names`` maps labels to names for the hover text.

    >>> fig = failure_paths([["V", "A", "B"], ["V", "C", "B"]])
    >>> sorted(fig.data[-1].text)
    ['A', 'B', 'C', 'V']
    """
    chains = [list(map(str, p)) for p in paths]
    x: dict[str, int] = {}
    rows: dict[str, list[int]] = {}
    for i, chain in enumerate(chains):
        for j, node in enumerate(chain):
            pos = j - (len(chain) - 1)  # the buyer at 0, upstream to the left
            x[node] = min(x.get(node, 0), pos)
            rows.setdefault(node, []).append(i)
    y = {node: -float(np.mean(r)) for node, r in rows.items()}
    fig = go.Figure()
    for chain in chains:
        fig.add_scatter(
            x=[x[n] for n in chain],
            y=[y[n] for n in chain],
            mode="lines",
            line={"color": "#c0392b", "width": 2},
            hoverinfo="skip",
            showlegend=False,
        )
    nodes = list(x)
    shared = [len(set(rows[n])) > 1 for n in nodes]
    fig.add_scatter(
        x=[x[n] for n in nodes],
        y=[y[n] for n in nodes],
        mode="markers+text",
        text=nodes,
        textposition="top center",
        hovertext=[f"{n} {(names or {}).get(n, '')}" for n in nodes],
        hoverinfo="text",
        marker={"size": [16 if s else 10 for s in shared], "color": ["#c0392b" if s else "#34495e" for s in shared]},
        showlegend=False,
    )
    fig.update_layout(
        title=title,
        xaxis={"title": "steps upstream of the buyer", "zeroline": False},
        yaxis={"visible": False},
        template="plotly_white",
        height=160 + 60 * len(chains),
    )
    return fig


def _group_shades(frame: pd.DataFrame) -> dict:
    """A colour per country: its group's colour, lighter for the smaller countries of a group."""
    colors = {}
    for group, g in frame.groupby("country_group", sort=False):
        base = GROUP_COLORS.get(group, "#7f8c8d")
        order = g.groupby("country")["exposure"].sum().sort_values(ascending=False).index
        for i, country in enumerate(order):
            colors[country] = _lighten(base, min(0.6, 0.12 * i))
    return colors


def _lighten(hex_color: str, amount: float) -> str:
    r, g, b = (int(hex_color[i : i + 2], 16) for i in (1, 3, 5))
    r, g, b = (round(c + (255 - c) * amount) for c in (r, g, b))
    return f"#{r:02x}{g:02x}{b:02x}"


def exposure_by_country(exposure: pd.DataFrame) -> go.Figure:
    """Stacked bars, one per program, of :func:`~supplychain.risk.foreign_exposure`: the share
    of the program's need from each country, countries of concern first (red), then other
    (orange), allied (blue), domestic (green) and unknown (grey). Hover for the first tier and
    the parts through which the country enters."""
    fe = exposure.copy()
    rank = {g: i for i, g in enumerate(GROUP_ORDER)}
    fe["_g"] = fe["country_group"].map(rank).fillna(len(rank))
    totals = fe.groupby("country")["exposure"].sum()
    fe["_t"] = -fe["country"].map(totals)
    colors = _group_shades(fe)
    fig = go.Figure()
    for country, g in fe.sort_values(["_g", "_t", "country"], kind="stable").groupby("country", sort=False):
        fig.add_bar(
            name=f"{country} {g['country_name'].iloc[0] or ''}".strip(),
            y=g["program"],
            x=g["exposure"],
            orientation="h",
            marker_color=colors[country],
            customdata=np.stack([g["country_group"], g["first_tier"].astype("string").fillna("-"), g["n_parts"]], axis=1),
            hovertemplate=f"{country}: %{{x:.1%}} of %{{y}}<br>%{{customdata[0]}}; enters at tier %{{customdata[1]}};"
            " %{customdata[2]} parts<extra></extra>",
        )
    lists = fe["country_lists"].iloc[0] if len(fe) else ""
    fig.update_layout(
        barmode="stack",
        title=f"Foreign dependency by program (traced through all tiers; lists: {lists})",
        xaxis={"tickformat": ".0%", "title": "share of the program's need", "range": [0, 1]},
        yaxis={"title": None, "autorange": "reversed"},
        legend={"traceorder": "normal"},
    )
    return fig


def exposure_sankey(by_tier: pd.DataFrame, program: str) -> go.Figure:
    """Sankey of one program's dependency: countries (left) → the tier at which each enters →
    the program (right), widths = share of the program's need; from
    :func:`~supplychain.risk.exposure_by_tier`."""
    g = by_tier[by_tier["program"] == program]
    if g.empty:
        raise ValueError(f"no exposure rows for program {program!r}; programs: {sorted(by_tier['program'].unique())}")
    countries = g.groupby("country", sort=False)["exposure"].sum().sort_values(ascending=False).index.tolist()
    tiers = sorted(g["tier"].unique().tolist())
    labels = countries + [f"tier {t}" for t in tiers] + [program]
    colors = _group_shades(g)
    node_colors = [colors[c] for c in countries] + ["#7f8c8d"] * len(tiers) + ["#34495e"]
    at = {c: i for i, c in enumerate(countries)}
    tier_at = {t: len(countries) + i for i, t in enumerate(tiers)}
    src = [at[c] for c in g["country"]] + [tier_at[t] for t in tiers]
    dst = [tier_at[t] for t in g["tier"]] + [len(labels) - 1] * len(tiers)
    per_tier = g.groupby("tier")["exposure"].sum()
    values = g["exposure"].tolist() + [float(per_tier[t]) for t in tiers]
    link_colors = [_lighten(colors[c], 0.5) for c in g["country"]] + ["#d5d8dc"] * len(tiers)
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "color": node_colors, "pad": 12},
            link={
                "source": src,
                "target": dst,
                "value": values,
                "color": link_colors,
                "hovertemplate": "%{value:.1%}<extra></extra>",
            },
            valueformat=".1%",
        )
    )
    fig.update_layout(title=f"{program}: where its need comes from, by the tier each country enters")
    return fig


#: Colours of the withdrawal methods compared by :func:`supplychain.risk.validate`.
METHOD_COLORS = {"model": "#c0392b", "expert rule": "#2e86c1", "intent alone": "#7f8c8d"}
#: Colours of the early-warning priorities.
PRIORITY_COLORS = {"act": "#c0392b", "watch": "#e67e22", "protect": "#2e86c1", "monitor": "#bdc3c7"}


def calibration_curve(validation) -> go.Figure:
    """Predicted probability against the observed withdrawal rate, per probability bin, for the
    model and both baselines (pooled forward-chained predictions of
    :func:`~supplychain.risk.validate`); on the diagonal is perfect calibration. Marker area ~
    rows in the bin."""
    cal = validation.calibration
    fig = go.Figure()
    top = float(max(cal["predicted"].max(), cal["observed"].max(), 0.05)) if len(cal) else 1.0
    fig.add_scatter(x=[0, top], y=[0, top], mode="lines", line={"dash": "dot", "color": "#999"}, name="perfect", hoverinfo="skip")
    for method, g in cal.groupby("method", sort=False):
        fig.add_scatter(
            x=g["predicted"],
            y=g["observed"],
            mode="lines+markers",
            name=method,
            line={"color": METHOD_COLORS.get(method)},
            marker={"size": np.clip(np.sqrt(g["rows"].to_numpy(float)) / 2, 5, 30)},
            customdata=np.column_stack([g["bin"], g["rows"]]),
            hovertemplate=method
            + " %{customdata[0]}: predicted %{x:.1%}, observed %{y:.1%} (%{customdata[1]} companies)<extra></extra>",
        )
    fig.update_layout(
        title="Calibration of withdrawal probabilities (forward-chained waves)",
        xaxis={"title": "predicted probability", "tickformat": ".0%"},
        yaxis={"title": "observed withdrawal rate", "tickformat": ".0%"},
        template="plotly_white",
    )
    return fig


def roc_pr(validation) -> go.Figure:
    """ROC (left) and precision-recall (right) curves of the model and both baselines on the
    pooled forward-chained predictions, areas in the legend."""
    from plotly.subplots import make_subplots
    from sklearn.metrics import precision_recall_curve, roc_curve

    pred = validation.predictions
    pooled = validation.metrics[validation.metrics["wave"] == "all"].set_index("method")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("ROC", "Precision–recall"))
    for method, g in pred.groupby("method", sort=False):
        y, p = g["withdraws"].to_numpy(int), g["probability"].to_numpy(float)
        if y.min() == y.max():
            continue
        color = METHOD_COLORS.get(method)
        fpr, tpr, _ = roc_curve(y, p)
        precision, recall, _ = precision_recall_curve(y, p)
        m = pooled.loc[method]
        fig.add_scatter(
            x=fpr, y=tpr, mode="lines", name=f"{method} (AUC {m['roc_auc']:.3f})", line={"color": color}, row=1, col=1
        )
        fig.add_scatter(
            x=recall,
            y=precision,
            mode="lines",
            name=f"{method} (AP {m['pr_auc']:.3f})",
            line={"color": color, "dash": "dash"},
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="false positive rate", row=1, col=1)
    fig.update_yaxes(title_text="true positive rate", row=1, col=1)
    fig.update_xaxes(title_text="recall", row=1, col=2)
    fig.update_yaxes(title_text="precision", row=1, col=2)
    fig.update_layout(title="Withdrawal model against its baselines (forward-chained waves)", template="plotly_white")
    return fig


def withdrawal_drivers(model, features: pd.DataFrame, company: str) -> go.Figure:
    """Bars of the log-odds contribution of every feature to one company's withdrawal
    probability (``company``: its label or internal id in ``features``, from
    :func:`~supplychain.risk.withdrawal_features`), red raising it, green lowering it, from the
    average company's log-odds; the title is the one-sentence explanation."""
    from .exceptions import SupplyChainError
    from .risk.withdrawal_model import describe

    row = features[(features["company"] == company) | (features["company_id"] == company)]
    if row.empty:
        raise SupplyChainError(f"no company {company!r} among the features given")
    row = row.head(1)
    contrib = model.contributions(row).iloc[0]
    contrib = contrib[contrib.abs() > 1e-9].sort_values(key=abs)
    words = model.explain(row)["drivers"].iloc[0]
    fig = go.Figure(
        go.Bar(
            x=contrib.to_numpy(),
            y=[describe(f, row[f].iloc[0]) for f in contrib.index],
            orientation="h",
            marker_color=["#c0392b" if v > 0 else "#27ae60" for v in contrib.to_numpy()],
            hovertemplate="%{y}: %{x:+.2f} log-odds<extra></extra>",
        )
    )
    name = row["company_name"].iloc[0]
    fig.update_layout(
        title={"text": f"{name}: {words}", "font": {"size": 13}},
        xaxis={"title": "contribution to the log-odds of withdrawal (0 = the average company)"},
        template="plotly_white",
        height=max(320, 22 * len(contrib) + 140),
    )
    return fig


def early_warning_matrix(early_warning: pd.DataFrame) -> go.Figure:
    """The early-warning matrix of :func:`~supplychain.risk.early_warning`: withdrawal
    probability (x) against the yen a year of deliveries its departure stops (y, log scale),
    coloured by priority, marker area ~ parts lost, with the thresholds that separate the
    quadrants."""
    ew = early_warning[early_warning["probability"].notna()]
    fig = go.Figure()
    for priority in ("monitor", "protect", "watch", "act"):
        g = ew[ew["priority"] == priority]
        if g.empty:
            continue
        fig.add_scatter(
            x=g["probability"],
            y=g["value_lost"].clip(lower=1e5),
            mode="markers",
            name=priority,
            marker={
                "color": PRIORITY_COLORS[priority],
                "size": np.clip(4 + 2 * np.sqrt(g["parts_lost"]), 4, 30),
                "opacity": 0.75,
            },
            customdata=np.column_stack(
                [g["company_name"], g["company"], g["parts_lost"], g["measure_type"].fillna("-"), g["drivers"]]
            ),
            hovertemplate="%{customdata[0]} (%{customdata[1]})<br>probability %{x:.1%}; ¥%{y:,.0f}/yr; %{customdata[2]} parts"
            "<br>measure: %{customdata[3]}<br>%{customdata[4]}<extra></extra>",
        )
    p_high = early_warning.attrs.get("p_high")
    threshold = early_warning.attrs.get("impact_threshold")
    if p_high is not None:
        fig.add_vline(x=p_high, line={"dash": "dot", "color": "#999"})
    if threshold:
        fig.add_hline(y=threshold, line={"dash": "dot", "color": "#999"})
    fig.update_layout(
        title="Withdrawal early warning: probability × impact",
        xaxis={"title": "probability of leaving before the next wave", "tickformat": ".0%"},
        yaxis={"title": "deliveries that stop (¥/year)", "type": "log"},
        template="plotly_white",
    )
    return fig


def scenario_days(result, *, top: int = 20) -> go.Figure:
    """Bars of the program-days each program loses in a scenario
    (:func:`supplychain.scenario.run`), longest first, value lost on hover; where the scenario
    has mitigations, the unmitigated days beside them."""
    lost = result.programs_lost.head(top).iloc[::-1]
    fig = go.Figure()
    fig.add_bar(
        x=lost["days_lost"],
        y=lost["program"],
        orientation="h",
        name="program-days lost",
        marker_color="#c0392b",
        customdata=np.column_stack([lost["value_lost"] / 1e6, lost["tts_days"], lost["path"]]) if len(lost) else None,
        hovertemplate="%{y}: %{x:,.0f} days, ¥%{customdata[0]:,.0f}m; stock on the way %{customdata[1]} days<br>%{customdata[2]}<extra></extra>",
    )
    s = result.summary
    title = f"{result.scenario.get('name')}: {s['programs_lost']} programs, {s['program_days_lost']:,.0f} program-days, ¥{s['value_lost'] / 1e9:,.1f}bn"
    if "baseline" in s:
        title += f" (without mitigations {s['baseline']['program_days_lost']:,.0f} days)"
    fig.update_layout(
        title=title, xaxis={"title": "days of production lost"}, template="plotly_white", height=max(300, 26 * len(lost) + 140)
    )
    return fig


def plan_before_after(review) -> go.Figure:
    """Grouped bars of the plan's program-days lost in each scenario of the review, without and
    with the plan (:func:`supplychain.plan.review`)."""
    sc_ = review.scenarios
    fig = go.Figure()
    fig.add_bar(x=sc_["scenario"], y=sc_["days_before"], name="without the plan", marker_color="#c0392b")
    fig.add_bar(x=sc_["scenario"], y=sc_["days_after"], name="with the plan", marker_color="#27ae60")
    p, s = review.plan, review.summary
    fig.update_layout(
        barmode="group",
        title=f"Plan {p['plan_id']} ({p['program']}): {s['program_days_saved']:,.0f} program-days saved; REI {s['rei_before']:.2f} → {s['rei_after']:.2f}",
        yaxis={"title": "program-days lost"},
        template="plotly_white",
    )
    return fig
