"""The survey template's item columns are the questionnaires' items: same codes, order and answer scale."""
from __future__ import annotations

from metrics.satisfaction.questionnaire import load_questionnaires
from templates_xlsx.layout import load_layouts

META = ["seq", "respondent_id", "survey_date", "mode"]


def test_survey_layout_follows_the_questionnaires() -> None:
    qs = load_questionnaires()
    lv = load_layouts()["JX-MY01"].versions[-1]
    tables = {t.name: t for t in lv.tables}
    assert set(tables) == set(qs)
    for code, q in qs.items():
        cols = tables[code].columns
        assert [c.field for c in cols] == META + [it.code for it in q.items], code
        for c, it in zip(cols[len(META):], q.items):
            scale = q.scales[it.scale]
            assert (c.kind, c.min, c.max) == ("count", scale.min, scale.max), (code, it.code)
            assert ("反向" in c.label_zh) == it.reverse, (code, it.code)
