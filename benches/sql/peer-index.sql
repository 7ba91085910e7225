-- After loading: every column a check joins on is indexed.
CREATE INDEX ON births (child);
CREATE INDEX ON births (mother);
CREATE INDEX ON births (father);
CREATE INDEX ON marriages (a, b);
CREATE INDEX ON marriages (b, a);
ANALYZE;
