/* migrations: the numbered schema steps, shared by both engines (see migrations.c). */
#pragma once

struct migration {
	int version;
	const char *pg;    /* PostgreSQL's form of the step where it differs; NULL: sql as it is */
	const char *sql;   /* the step, as SQLite (and PostgreSQL, unless pg says otherwise) runs it */
};

extern const struct migration store_migrations[];
extern const int store_migrations_count;
