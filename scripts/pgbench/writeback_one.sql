\set n random(0, 9999)
update leads set intent_at_last_activity = intent_at_last_activity + 1 where email = 'wb-person' || :n || '@company' || (:n % 2000) || '.example';
