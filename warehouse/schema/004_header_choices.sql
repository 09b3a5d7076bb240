-- 004: a return's choice cells beyond 填报单位/机构编码/统计期 (e.g. 处方点评表 抽样方式), as typed and parsed,
-- with their cells: {"sampling_method": {"value": "随机", "sheet": "点评概况", "cell": "B5"}}
ALTER TABLE submissions ADD COLUMN IF NOT EXISTS header_choices JSON;
