/*
 * str: allocation helpers that never return NULL (they abort on OOM, which is
 * a broken invariant for a daemon of this size) and small string utilities.
 * Every returned string is owned by the caller and freed with free().
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

char *xstrdup(const char *s);             /* NULL in, NULL out */
char *xstrndup(const char *s, size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

bool str_starts_with(const char *s, const char *prefix);
bool str_ends_with(const char *s, const char *suffix);
/* Removes trailing whitespace in place; returns s. */
char *str_rstrip(char *s);

/* Frees *p and sets it to NULL; for __attribute__((cleanup(free_ptr))). */
void free_ptr(void *p);
#define autofree __attribute__((cleanup(free_ptr)))

/* A growable string buffer. */
struct sbuf {
	char *data;
	size_t len, cap;
};
void sbuf_add(struct sbuf *b, const char *s);
void sbuf_addn(struct sbuf *b, const char *s, size_t n);
void sbuf_addf(struct sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Returns the string (never NULL) and leaves b empty; caller frees. */
char *sbuf_take(struct sbuf *b);
void sbuf_free(struct sbuf *b);
