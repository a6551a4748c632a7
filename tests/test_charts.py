"""The dashboard's SVG charts (instrument/server/charts.py), parsed back with lxml (issue 13).

Every chart is well-formed SVG labelled for screen readers (role img, a title and
a description it names with aria-labelledby); bars are as tall (funnel bars as
wide) as their numbers, in proportion; every category and value is written out;
series differ by pattern, not colour alone, and have a legend; a target draws a
labelled dashed line; no data gives a short chart that says so; labels are
escaped; bad input is refused.
"""

from __future__ import annotations

import pytest
from lxml import etree

from instrument.server.charts import (
    PALETTE,
    Series,
    bar_chart,
    funnel_chart,
    line_chart,
    nice_maximum,
    stacked_bar_chart,
)

NS = {"s": "http://www.w3.org/2000/svg"}


def parse(svg: str) -> etree._Element:
    return etree.fromstring(svg.encode("utf-8"))


def labelled(root: etree._Element, title: str) -> None:
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    assert root.get("role") == "img"
    title_id, desc_id = root.get("aria-labelledby").split()
    assert root.xpath(f"s:title[@id='{title_id}']", namespaces=NS)[0].text == title
    assert root.xpath(f"s:desc[@id='{desc_id}']", namespaces=NS)[0].text
    assert root.get("style") is None and not root.xpath("//s:style", namespaces=NS)  # CSP


def bars(root: etree._Element) -> list[etree._Element]:
    return root.xpath("//s:rect[@class='bar']", namespaces=NS)


def texts(root: etree._Element, cls: str) -> list[str]:
    return [t.text for t in root.xpath(f"//s:text[@class='{cls}']", namespaces=NS)]


def test_bars_are_as_tall_as_their_numbers_and_labelled() -> None:
    root = parse(bar_chart("c", "Break-off", "Where they stopped", ["q1", "q2", "q3"], [8, 4, 2]))
    labelled(root, "Break-off")
    heights = [float(b.get("height")) for b in bars(root)]
    assert heights[0] == pytest.approx(2 * heights[1]) == pytest.approx(4 * heights[2])
    bottoms = {round(float(b.get("y")) + float(b.get("height")), 2) for b in bars(root)}
    assert len(bottoms) == 1  # all stand on the axis
    assert texts(root, "category") == ["q1", "q2", "q3"]
    assert texts(root, "value") == ["8", "4", "2"]
    assert [b.get("data-value") for b in bars(root)] == ["8", "4", "2"]
    axis = [t.text for t in root.xpath("//s:g[@class='axis']/s:text", namespaces=NS)]
    assert axis == ["0", "2", "4", "6", "8"]  # whole steps for counts


def test_a_zero_bar_is_left_out_and_a_unit_follows_each_value() -> None:
    root = parse(
        bar_chart("c", "Rates", "Rates", ["RR1", "RR3", "REF1"], [25.0, 0, 12.5], unit="%")
    )
    assert [b.get("data-category") for b in bars(root)] == ["RR1", "REF1"]
    assert texts(root, "value") == ["25%", "12.5%"]
    assert texts(root, "category") == ["RR1", "RR3", "REF1"]  # the zero's label stays


def test_stacked_bars_add_up_and_each_series_has_its_pattern_and_legend() -> None:
    series = [Series("web", (3, 0, 2)), Series("cati", (1, 2, 0))]
    root = parse(
        stacked_bar_chart("by-day", "Completes", "By day", ["d0", "d1", "d2"], series, target=5)
    )
    labelled(root, "Completes")
    found = bars(root)
    assert [(b.get("data-category"), b.get("data-series")) for b in found] == [
        ("d0", "web"), ("d0", "cati"), ("d1", "cati"), ("d2", "web"),
    ]  # fmt: skip
    unit = float(found[0].get("height")) / 3
    assert float(found[1].get("height")) == pytest.approx(unit)
    assert float(found[1].get("y")) + float(found[1].get("height")) == pytest.approx(
        float(found[0].get("y"))
    )  # cati sits on web
    assert texts(root, "value") == ["4", "2", "2"]
    fills = {b.get("data-series"): b.get("fill") for b in found}
    assert fills["web"] != fills["cati"]
    patterns = root.xpath("//s:defs/s:pattern", namespaces=NS)
    assert len(patterns) == 2 and patterns[1].xpath(
        "s:path|s:circle", namespaces=NS
    )  # not colour only
    assert texts(root, "legend-label") == ["web", "cati"]
    target = root.xpath("//s:g[@class='target']", namespaces=NS)[0]
    line = target.xpath("s:line", namespaces=NS)[0]
    assert line.get("stroke-dasharray")
    assert target.xpath("s:text", namespaces=NS)[0].text == "Target 5"
    # the target (5) is drawn where a bar of 5 would end
    base = float(found[0].get("y")) + float(found[0].get("height"))
    assert float(line.get("y1")) == pytest.approx(base - 5 * unit)


def test_the_funnel_is_as_wide_as_its_counts_with_shares_of_the_first() -> None:
    stages = [("Invited", 200), ("Opened", 100), ("Started", 50), ("Finished", 40)]
    root = parse(funnel_chart("f", "Funnel", "Contact", stages))
    labelled(root, "Funnel")
    widths = [float(b.get("width")) for b in bars(root)]
    assert widths[0] == pytest.approx(2 * widths[1]) == pytest.approx(5 * widths[3])
    assert texts(root, "value") == ["200", "100 (50%)", "50 (25%)", "40 (20%)"]
    assert texts(root, "category") == ["Invited", "Opened", "Started", "Finished"]


def test_lines_mark_every_point_and_label_the_last() -> None:
    root = parse(
        line_chart(
            "l",
            "So far",
            "Cumulative",
            ["d0", "d1", "d2"],
            [Series("Completes", (2, 6, 8))],
            target=10,
        )  # fmt: skip
    )
    labelled(root, "So far")
    points = root.xpath("//s:circle[@class='point']", namespaces=NS)
    assert [p.get("data-value") for p in points] == ["2", "6", "8"]
    ys = [float(p.get("cy")) for p in points]
    assert ys[0] > ys[1] > ys[2]  # higher is more
    assert (ys[0] - ys[1]) == pytest.approx(2 * (ys[1] - ys[2]))
    assert texts(root, "value") == ["8"]
    assert root.xpath("//s:path[@class='line']/@stroke", namespaces=NS) == [PALETTE[0]]
    assert root.xpath("//s:g[@class='target']/s:text", namespaces=NS)[0].text == "Target 10"


@pytest.mark.parametrize(
    "svg",
    [
        bar_chart("e", "Empty", "Nothing", [], [], empty="No interview has stopped."),
        bar_chart("e", "Empty", "Nothing", ["a", "b"], [0, 0], empty="No interview has stopped."),
        stacked_bar_chart(
            "e", "Empty", "Nothing", ["a"], [Series("web", (0,))], empty="No interview has stopped."
        ),  # fmt: skip
        funnel_chart("e", "Empty", "Nothing", [("Invited", 0)], empty="No interview has stopped."),
        line_chart("e", "Empty", "Nothing", [], [], empty="No interview has stopped."),
    ],
)
def test_no_data_gives_a_short_chart_that_says_so(svg: str) -> None:
    root = parse(svg)
    labelled(root, "Empty")
    assert not bars(root)
    assert texts(root, "chart-empty") == ["No interview has stopped."]


def test_labels_are_escaped() -> None:
    hostile = '</text><script>alert("x")</script>&'
    root = parse(bar_chart("c", hostile, hostile, [hostile], [1]))
    assert not root.xpath("//s:script|//script", namespaces=NS)
    assert texts(root, "category")[0].startswith("</text>")  # shown as text, shortened
    assert root.xpath("s:title", namespaces=NS)[0].text == hostile


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="one value a label"):
        bar_chart("c", "t", "d", ["a", "b"], [1])
    with pytest.raises(ValueError, match="2 values for 1 labels"):
        stacked_bar_chart("c", "t", "d", ["a"], [Series("web", (1, 2))])
    with pytest.raises(ValueError, match="negative"):
        stacked_bar_chart("c", "t", "d", ["a"], [Series("web", (-1,))])
    with pytest.raises(ValueError, match="negative"):
        funnel_chart("c", "t", "d", [("a", 3), ("b", -1)])


def test_many_categories_are_turned_so_they_do_not_overlap() -> None:
    labels = [f"day {i}" for i in range(29)]
    root = parse(bar_chart("c", "t", "d", labels, list(range(1, 30))))
    turned = root.xpath("//s:text[@class='category']/@transform", namespaces=NS)
    assert len(turned) == 29 and all(t.startswith("rotate(-45") for t in turned)


def test_axis_tops() -> None:
    assert [nice_maximum(v, whole=True) for v in (0, 3, 4, 5, 17, 100)] == [4, 4, 4, 8, 20, 100]
    assert nice_maximum(68.8) == 80 and nice_maximum(0.3) == pytest.approx(0.4)
