-- The SQL peer of benches/load.sh: the tables a caller would keep to
-- answer the same kinship checks without kinship (IINs as bigint), and
-- the pairs each check asks about.
CREATE TABLE births (child bigint NOT NULL, mother bigint, father bigint);
CREATE TABLE marriages (a bigint NOT NULL, b bigint NOT NULL, since date NOT NULL, ended date);
CREATE TABLE child_pairs (id serial PRIMARY KEY, owner bigint, applicant bigint);
CREATE TABLE spouse_pairs (id serial PRIMARY KEY, owner bigint, applicant bigint);
CREATE TABLE grand_pairs (id serial PRIMARY KEY, owner bigint, applicant bigint);
