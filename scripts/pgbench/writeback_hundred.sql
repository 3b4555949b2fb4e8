\set n random(0, 99)
update leads set intent_at_last_activity = intent_at_last_activity + 1 where id in (select id from leads order by id offset :n * 100 limit 100);
