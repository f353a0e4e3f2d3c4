/* migrations: the numbered schema steps; PRAGMA user_version records how far a store has come. */
#pragma once

struct migration {
	int version;
	const char *sql;
};

extern const struct migration store_migrations[];
extern const int store_migrations_count;
