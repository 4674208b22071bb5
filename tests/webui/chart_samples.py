"""Small charts of every kind, in English and Chinese, for the chart tests (tests/webui/test_charts.py)
and the browser test that lays them out at 1280 and 375 px (tests/browser/test_chart_layout.py)."""

from __future__ import annotations

from decimal import Decimal

from engine.metadata.model import Settings
from webui.charts import Category, Chart, Kpi, Series, ValueFormat
from webui.i18n import Formatter

SETTINGS = Settings(currency="CNY", locale="zh_CN", languages=("zh", "en"), timezone="Asia/Shanghai")

#: Words of the samples in each language.
WORDS = {
    "en": {
        "stages": ["Qualified", "Needs analysis", "Quote", "Negotiation", "Won"],
        "sources": ["Website", "Trade show", "Referral", "Cold call", "WeChat", "Partner", "Webinar", "Other ads"],
        "months": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
        "owners": ["Alice Wong", "Bob Li", "Carol Zhang"],
        "series": ["New business", "Renewal"],
        "long": "Enterprise accounts in the Yangtze River Delta region",
        "deals": "Deals",
        "budget": "Budget",
        "leads": "Leads",
    },
    "zh": {
        "stages": ["已确认", "需求分析", "报价", "谈判", "赢单"],
        "sources": ["官网", "展会", "客户推荐", "电话拜访", "微信", "合作伙伴", "线上研讨会", "其他广告"],
        "months": [f"{m}月" for m in range(1, 13)],
        "owners": ["王丽", "李波", "张卡罗"],
        "series": ["新业务", "续约"],
        "long": "长三角地区的大型企业客户与重点行业客户",
        "deals": "商机数",
        "budget": "预算",
        "leads": "线索数",
    },
}


def formatter(lang: str) -> Formatter:
    """The formatter of a reader in ``lang`` (company in China, currency CNY)."""
    return Formatter.for_language(lang, SETTINGS)


def link(kind: str, index: int) -> str:
    return f"/objects/opportunity?sample={kind}&i={index}"


def samples(lang: str) -> dict[str, Chart]:
    """One chart per kind (and a lying bar chart with long labels), in ``lang``."""
    w = WORDS[lang]
    stages = [Category(label, link("stage", i)) for i, label in enumerate(w["stages"])]
    sources = [Category(label, link("source", i)) for i, label in enumerate(w["sources"])]
    months = [Category(label) for label in w["months"]]
    owners = [Category(label) for label in [*w["owners"], w["long"]]]
    return {
        "bar": Chart(
            "bar", "Deals by stage" if lang == "en" else "各阶段商机", stages, [Series(w["deals"], [40, 22, 12, 7, 5])]
        ),
        "bar_lying": Chart(
            "bar",
            "Budget by owner" if lang == "en" else "各负责人预算",
            owners,
            [
                Series(
                    w["budget"],
                    [Decimal("1250000"), Decimal("830000.50"), Decimal("-120000"), Decimal("2400000")],
                    [link("owner", i) for i in range(4)],
                )
            ],
            ValueFormat.money(),
        ),
        "stacked_bar": Chart(
            "stacked_bar",
            "Leads by source" if lang == "en" else "线索来源分析",
            sources[:4],
            [
                Series(w["series"][0], [30, 18, 9, 4], [link("new", i) for i in range(4)]),
                Series(w["series"][1], [12, 6, 3, None], [link("renewal", i) for i in range(4)]),
            ],
        ),
        "line": Chart(
            "line",
            "Won amount per month" if lang == "en" else "每月赢单金额",
            months,
            [
                Series(
                    w["series"][0],
                    [
                        None if v is None else Decimal(v)
                        for v in (
                            120000,
                            98000,
                            143000,
                            None,
                            175500,
                            160000,
                            210000,
                            190000,
                            230000,
                            250000,
                            270000,
                            320000,
                        )
                    ],
                ),
                Series(
                    w["series"][1],
                    [
                        Decimal(v)
                        for v in (40000, 42000, 39000, 45000, 47000, 52000, 50000, 61000, 58000, 64000, 70000, 72000)
                    ],
                ),
            ],
            ValueFormat.money(),
        ),
        "funnel": Chart(
            "funnel",
            "Sales funnel" if lang == "en" else "销售漏斗",
            stages,
            [Series(w["deals"], [200, 120, 60, 30, 18])],
        ),
        "donut": Chart(
            "donut",
            "Leads by source" if lang == "en" else "线索来源",
            sources,
            [Series(w["leads"], [120, 80, 60, 40, 30, 2, 1, 1])],
        ),
        "kpi": Chart(
            "kpi",
            "Won this quarter" if lang == "en" else "本季度赢单",
            kpi=Kpi(Decimal("1234567.89"), Decimal("1100000"), link("won", 0)),
            value_format=ValueFormat.money(),
        ),
        "table": Chart(
            "table",
            "Deals by owner and type" if lang == "en" else "各负责人各类型商机",
            owners[:3],
            [
                Series(w["series"][0], [5, 3, 0], [link("n", i) for i in range(3)]),
                Series(w["series"][1], [2, None, 4], [link("r", i) for i in range(3)]),
            ],
            category_heading="Owner" if lang == "en" else "负责人",
        ),
    }
