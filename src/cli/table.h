/*
 * table: aligned columns for people, like `docker ps` or `aws --output table`
 * without the boxes. Cells are copied; a NULL or empty cell shows as "-".
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

struct table;

/* headers has ncols entries. Free with table_free(). */
struct table *table_new(size_t ncols, const char *const headers[]);
void table_free(struct table *t);
/* Right-aligns a column (numbers); columns are left-aligned by default. */
void table_align_right(struct table *t, size_t col);
/* Appends a row; cells has ncols entries. */
void table_add_row(struct table *t, const char *const cells[]);
size_t table_rows(const struct table *t);
/* The whole table, header first, columns three spaces apart, one '\n' per line,
 * no trailing blanks. Width counts UTF-8 characters, not bytes. Caller frees. */
char *table_render(const struct table *t);
