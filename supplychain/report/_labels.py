"""Labels of the report in Japanese and English (terms from the project glossary)."""

from __future__ import annotations

__all__ = ["label", "value_label", "localize_figure", "LANGS", "UNMARKED"]

LANGS = ("ja", "en")

#: The marking setting that prints a report as deliberately unmarked (synthetic data only).
UNMARKED = "unmarked"

_L: dict[str, tuple[str, str]] = {
    # report and sections
    "title": ("サプライチェーン・リスク報告", "Supply-chain risk report"),
    "plan_title": ("安定製造等確保計画 審査資料", "Stable Manufacturing Plan review"),
    "unmarked": ("区分なし（合成データ）", "UNMARKED (synthetic data)"),
    "contents": ("目次", "Contents"),
    "summary": ("概要", "Summary"),
    "top_findings": ("重要な所見（深刻度順）", "Top findings by severity"),
    "programs": ("装備品別", "Programs"),
    "network_by_tier": ("階層別のサプライチェーン", "Network by tier"),
    "sourcing": ("調達源（唯一供給源・単一調達）", "Sourcing (sole and single source)"),
    "foreign_exposure": ("海外依存", "Foreign exposure"),
    "early_warning": ("撤退の早期警戒", "Early warnings of withdrawal"),
    "ttr_tts": ("復旧所要期間（TTR）と継続可能期間（TTS）", "Time to recover (TTR) and time to survive (TTS)"),
    "scenarios": ("シナリオ", "Scenarios"),
    "plan_reviews": ("安定製造等確保計画の審査", "Stable Manufacturing Plan reviews"),
    "changes": ("前回調査からの変化", "Changes since the previous wave"),
    "data_quality": ("データ品質", "Data quality"),
    "footer": ("作成情報", "About this report"),
    "measures": ("措置", "Measures"),
    "plan_scenarios": ("シナリオ別の効果", "Effect by scenario"),
    "plan_findings": ("対処する所見・残る所見", "Findings addressed and left"),
    "coverage": ("回答状況（装備品別）", "Survey coverage by program"),
    "unknown_origin": ("原産国不明の比率", "Share of need of unknown origin"),
    "review_queues": ("確認待ち", "Review queues"),
    "quality_findings": ("データ品質の所見", "Data-quality findings"),
    # summary figures
    "wave": ("調査回", "Wave"),
    "reference_date": ("基準日", "Reference date"),
    "previous_wave": ("比較対象の調査回", "Previous wave"),
    "n_programs": ("装備品数", "Programs"),
    "n_companies": ("企業数", "Companies"),
    "n_links": ("供給関係数", "Supply links"),
    "n_findings": ("所見数", "Findings"),
    "generated_at": ("作成日時", "Generated at"),
    "version": ("ソフトウェア版", "Software version"),
    "data_hash": ("データのハッシュ", "Data hash"),
    "parameters": ("パラメータ", "Parameters"),
    "configuration": ("設定", "Configuration"),
    "marking": ("取扱区分", "Marking"),
    "language": ("言語", "Language"),
    "scope": ("対象装備品", "Programs covered"),
    "all_programs": ("全装備品", "all programs"),
    "no_rows": ("該当なし", "None"),
    "more_rows": ("ほか {n:,} 件（XLSX に全件）", "… and {n:,} more (all in the XLSX)"),
    "no_previous": (
        "前回の調査回のリスク登録簿がないため、変化は示せません（`supplychain score --wave {wave}` で作成）。",
        "No register is stored for an earlier wave, so changes cannot be shown (`supplychain score --wave {wave}` writes one).",
    ),
    "no_plans": ("審査対象の計画は読み込まれていません。", "No Stable Manufacturing Plans are loaded."),
    "changes_counts": (
        "調査回 {a} から {b} へ：新規 {new:,}、悪化 {worse:,}、改善 {better:,}、解消 {resolved:,}、変化なし {unchanged:,}。",
        "From wave {a} to {b}: {new:,} new, {worse:,} worse, {better:,} better, {resolved:,} resolved, {unchanged:,} unchanged.",
    ),
    "severity_counts": (
        "所見 {total:,} 件：重大 {critical:,}、高 {high:,}、中 {medium:,}、低 {low:,}。",
        "{total:,} findings: {critical:,} critical, {high:,} high, {medium:,} medium, {low:,} low.",
    ),
    "sourcing_counts": (
        "部品（購入者ごと）{total:,} 件のうち、唯一供給源 {sole:,}、単一調達 {single:,}、複数調達 {multi:,}。",
        "Of {total:,} parts (per buyer): {sole:,} sole source, {single:,} single source, {multi:,} multi-sourced.",
    ),
    "scenario_line": (
        "{days}：装備品の停止 {programs:,} 件、失われる装備品・日数 {program_days:,.0f}、金額 {value}。",
        "{days}: {programs:,} programs stop, {program_days:,.0f} program-days lost, worth {value}.",
    ),
    "days_for": ("{d:,.0f} 日間", "For {d:,.0f} days"),
    "days_forever": ("恒久的", "For good"),
    "tier_profile": (
        "階層別の企業数（供給する部品の最も厳しい調達区分）",
        "Companies by tier (worst sourcing class of what they supply)",
    ),
    "network_drawn": ("階層別のネットワーク図", "The network by tier"),
    "network_too_large": (
        "企業数 {n:,} のため、ネットワーク図は省略しました（上限 {limit:,}）。",
        "{n:,} companies: the network drawing is left out (limit {limit:,}).",
    ),
    "exposure_chart": ("国別の依存度（全階層）", "Exposure by country (all tiers)"),
    "scenario_chart": ("装備品別の停止日数", "Program-days lost by program"),
    "plan_chart": ("計画の前後", "Before and after the plan"),
    "plan_none_reviewed": ("審査した計画 {n:,} 件（費用対効果順）。", "{n:,} plans reviewed (best value first)."),
    "rejected_rows": ("受理されなかった行", "Rows refused at ingest"),
    "entity_pending": ("名寄せ確認待ちの組", "Entity pairs awaiting review"),
    "screening_pending": ("スクリーニング照合の確認待ち", "Screening matches awaiting review"),
    "non_response": ("前回回答し今回未回答の企業", "Past respondents without a return this wave"),
    # severities, changes, classes
    "critical": ("重大", "critical"),
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
    "new": ("新規", "new"),
    "resolved": ("解消", "resolved"),
    "worse": ("悪化", "worse"),
    "better": ("改善", "better"),
    "unchanged": ("変化なし", "unchanged"),
    "sole": ("唯一供給源", "sole"),
    "single": ("単一調達", "single"),
    "multi": ("複数調達", "multi"),
    # columns
    "col.finding_id": ("所見ID", "Finding"),
    "col.severity": ("深刻度", "Severity"),
    "col.score": ("スコア", "Score"),
    "col.likelihood": ("発生可能性", "Likelihood"),
    "col.impact": ("影響度", "Impact"),
    "col.archetype": ("類型", "Archetype"),
    "col.kind": ("種別", "Kind"),
    "col.title": ("所見", "Finding"),
    "col.subject": ("対象", "Subject"),
    "col.programs": ("装備品", "Programs"),
    "col.program": ("装備品", "Program"),
    "col.program_name": ("装備品名", "Program name"),
    "col.name": ("名称", "Name"),
    "col.prime": ("プライム企業", "Prime"),
    "col.status": ("対応状況", "Status"),
    "col.owner": ("担当", "Owner"),
    "col.measure_type": ("計画の措置類型", "Plan measure type"),
    "col.basis": ("根拠", "Basis"),
    "col.evidence": ("証拠", "Evidence"),
    "col.company": ("企業（法人番号）", "Company"),
    "col.company_name": ("企業名", "Company name"),
    "col.buyer": ("購入者", "Buyer"),
    "col.buyer_name": ("購入者名", "Buyer name"),
    "col.part": ("部品", "Part"),
    "col.suppliers": ("サプライヤー", "Suppliers"),
    "col.supplier_names": ("サプライヤー名", "Supplier names"),
    "col.n_suppliers": ("供給者数", "Suppliers in use"),
    "col.classification": ("調達区分", "Class"),
    "col.hhi": ("HHI", "HHI"),
    "col.value_jpy": ("年間金額（円）", "Annual value (JPY)"),
    "col.country": ("国", "Country"),
    "col.country_name": ("国名", "Country name"),
    "col.country_group": ("区分", "Group"),
    "col.exposure": ("依存度", "Exposure"),
    "col.first_tier": ("最初の階層", "First tier"),
    "col.n_parts": ("部品数", "Parts"),
    "col.priority": ("優先度", "Priority"),
    "col.probability": ("撤退確率", "Probability"),
    "col.points": ("専門家ルール点", "Expert points"),
    "col.programs_lost": ("停止する装備品", "Programs lost"),
    "col.buyers_lost": ("停止する企業", "Buyers lost"),
    "col.parts_lost": ("失われる部品", "Parts lost"),
    "col.value_lost": ("失われる金額（円）", "Value lost (JPY)"),
    "col.drivers": ("要因", "Drivers"),
    "col.ttr_days": ("TTR（日）", "TTR (days)"),
    "col.tts_days": ("TTS（日）", "TTS (days)"),
    "col.days_lost": ("停止日数", "Program-days lost"),
    "col.tts_below_ttr": ("TTS < TTR", "TTS < TTR"),
    "col.rei": ("リスク露出指数", "Risk Exposure Index"),
    "col.change": ("変化", "Change"),
    "col.severity_a": ("前回の深刻度", "Severity before"),
    "col.severity_b": ("今回の深刻度", "Severity now"),
    "col.score_a": ("前回スコア", "Score before"),
    "col.score_b": ("今回スコア", "Score now"),
    "col.scenario": ("シナリオ", "Scenario"),
    "col.description": ("内容", "Description"),
    "col.days": ("期間（日）", "Days"),
    "col.program_days": ("停止日数合計", "Program-days lost"),
    "col.annual_value_jpy": ("年間金額（円）", "Annual value (JPY)"),
    "col.companies": ("企業数", "Companies"),
    "col.links": ("供給関係数", "Links"),
    "col.max_tier": ("最深階層", "Deepest tier"),
    "col.responded": ("回答率", "Responded"),
    "col.with_status": ("経営状況あり", "With business status"),
    "col.with_cyber": ("サイバー自己評価あり", "With cyber assessment"),
    "col.share_reported": ("比率の記入率", "Shares reported"),
    "col.unknown": ("原産国不明", "Unknown origin"),
    "col.plan_id": ("計画ID", "Plan"),
    "col.amount_jpy": ("金額（円）", "Amount (JPY)"),
    "col.days_before": ("計画前の停止日数", "Days lost before"),
    "col.days_after": ("計画後の停止日数", "Days lost after"),
    "col.days_saved": ("削減日数", "Days saved"),
    "col.value_saved": ("削減金額（円）", "Value saved (JPY)"),
    "col.program_days_saved": ("削減日数", "Program-days saved"),
    "col.yen_per_day_saved": ("1日当たり費用（円）", "Yen per day saved"),
    "col.rei_before": ("計画前 REI", "REI before"),
    "col.rei_after": ("計画後 REI", "REI after"),
    "col.findings_addressed": ("対処する所見", "Findings addressed"),
    "col.measure_id": ("措置ID", "Measure"),
    "col.action": ("措置内容", "Action"),
    "col.cost_jpy": ("費用（円）", "Cost (JPY)"),
    "col.addressed": ("対処", "Addressed"),
    "col.by": ("措置", "By"),
    "col.detail": ("詳細", "Detail"),
    "col.tier": ("階層", "Tier"),
    "col.count": ("件数", "Count"),
    "col.item": ("項目", "Item"),
    "col.value": ("値", "Value"),
}


_SEVERITY = {"critical": "重大", "high": "高", "medium": "中", "low": "低"}
_CHANGE = {"new": "新規", "resolved": "解消", "worse": "悪化", "better": "改善", "unchanged": "変化なし"}
#: Japanese for the codes that fill some columns (English reports print the codes).
VALUES_JA: dict[str, dict[str, str]] = {
    "severity": _SEVERITY,
    "severity_a": _SEVERITY,
    "severity_b": _SEVERITY,
    "change": _CHANGE,
    "classification": {"sole": "唯一供給源", "single": "単一調達", "multi": "複数調達"},
    "archetype": {
        "sourcing": "調達源",
        "hidden_convergence": "隠れた集中",
        "chokepoint": "チョークポイント",
        "time_to_recover": "復旧所要期間",
        "foreign_dependency": "海外依存",
        "foreign_control": "外国による支配",
        "screening": "スクリーニング",
        "withdrawal": "撤退",
        "cyber": "サイバー",
        "aging_facilities": "設備の老朽化",
        "succession": "事業承継",
        "financial": "財務",
        "hazard_concentration": "災害リスクの集中",
        "data_quality": "データ品質",
    },
    "measure_type": {
        "supply_chain_resilience": "供給網強靱化",
        "manufacturing_efficiency": "製造工程効率化",
        "cybersecurity": "サイバーセキュリティ強化",
        "business_succession": "事業承継等",
    },
    "status": {"new": "新規", "open": "対応中", "mitigated": "軽減済み", "accepted": "受容", "closed": "終了"},
    "priority": {"act": "要対応", "watch": "要注視", "protect": "保護", "monitor": "監視"},
    "country_group": {"domestic": "国内", "concern": "懸念国", "allied": "同盟国・同志国", "other": "その他", "unknown": "不明"},
}


def value_label(column: str, value, lang: str):
    """A code of ``column`` (severity, archetype, status, ...) as the report prints it in ``lang``."""
    if lang != "ja" or not isinstance(value, str):
        return value
    return VALUES_JA.get(column, {}).get(value, value)


#: Words inside the figures of :mod:`supplychain.plot` (written in English there) in Japanese.
FIGURE_JA = {
    "sole source": "唯一供給源",
    "single source": "単一調達",
    "multi source": "複数調達",
    "company": "企業",
    "companies": "企業数",
    "tier (1 = the prime's direct suppliers)": "階層（1 = プライム企業の直接の取引先）",
    "tier (0 = prime)": "階層（0 = プライム企業）",
    "share of the program's need": "装備品の必要量に占める比率",
    "days of production lost": "停止日数",
    "program-days lost": "停止日数",
    "without the plan": "計画なし",
    "with the plan": "計画あり",
}


def localize_figure(fig, lang: str):
    """Put the English words of a :mod:`supplychain.plot` figure (trace names, axis titles) in
    ``lang``; returns the figure."""
    if lang != "ja":
        return fig
    fig.for_each_trace(lambda t: t.update(name=FIGURE_JA.get(t.name, t.name)) if t.name else None)
    for axis in ("xaxis", "yaxis"):
        title = fig.layout[axis].title.text
        if title in FIGURE_JA:
            fig.layout[axis].title.text = FIGURE_JA[title]
    return fig


def label(key: str, lang: str, **fmt) -> str:
    """The label ``key`` in ``lang`` (``ja`` or ``en``), formatted with ``fmt``; an unknown
    column key falls back to the column's own name."""
    pair = _L.get(key)
    if pair is None:
        text = key.removeprefix("col.")
    else:
        text = pair[LANGS.index(lang)]
    return text.format(**fmt) if fmt else text
