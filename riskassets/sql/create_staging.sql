-- A staging table with exactly the target's structure, so REPLACE PARTITION accepts it.
CREATE TABLE $staging AS $table
