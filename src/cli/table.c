/*
 * table: aligned text columns (see table.h).
 *
 * Rows are kept as copied strings until render time, when every column's
 * width is the widest of its cells; the last column is never padded so that
 * lines carry no trailing blanks.
 */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

#define TABLE_GAP "   "

struct table {
	size_t ncols, nrows;
	char **cells; /* (nrows + 1) * ncols, row 0 is the header */
	bool *right;
};

/* Characters, not bytes: UTF-8 continuation bytes do not take a column. */
static size_t text_width(const char *s)
{
	size_t w = 0;
	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			w++;
	return w;
}

static char *cell_copy(const char *s)
{
	return xstrdup(s && *s ? s : "-");
}

struct table *table_new(size_t ncols, const char *const headers[])
{
	struct table *t = xcalloc(1, sizeof(*t));
	t->ncols = ncols;
	t->right = xcalloc(ncols, sizeof(bool));
	t->cells = xcalloc(ncols, sizeof(char *));
	for (size_t c = 0; c < ncols; c++)
		t->cells[c] = cell_copy(headers[c]);
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < (t->nrows + 1) * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	free(t->right);
	free(t);
}

void table_align_right(struct table *t, size_t col)
{
	if (col < t->ncols)
		t->right[col] = true;
}

void table_add_row(struct table *t, const char *const cells[])
{
	t->cells = xrealloc(t->cells, (t->nrows + 2) * t->ncols * sizeof(char *));
	char **row = t->cells + (t->nrows + 1) * t->ncols;
	for (size_t c = 0; c < t->ncols; c++)
		row[c] = cell_copy(cells[c]);
	t->nrows++;
}

size_t table_rows(const struct table *t)
{
	return t->nrows;
}

static void pad(struct sbuf *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sbuf_add(b, " ");
}

char *table_render(const struct table *t)
{
	size_t *width = xcalloc(t->ncols, sizeof(size_t));
	for (size_t r = 0; r <= t->nrows; r++)
		for (size_t c = 0; c < t->ncols; c++) {
			size_t w = text_width(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	struct sbuf b = {0};
	for (size_t r = 0; r <= t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++) {
			const char *s = t->cells[r * t->ncols + c];
			size_t fill = width[c] - text_width(s);
			bool last = c + 1 == t->ncols;
			if (c > 0)
				sbuf_add(&b, TABLE_GAP);
			if (t->right[c])
				pad(&b, fill);
			sbuf_add(&b, s);
			if (!t->right[c] && !last)
				pad(&b, fill);
		}
		sbuf_add(&b, "\n");
	}
	free(width);
	return sbuf_take(&b);
}
