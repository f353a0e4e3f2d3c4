/*
 * vmcache: each VM's JSON as the list endpoint last rendered it, keyed by id
 * and valid for one revision of the VM (store_vm_page_revs). A page of the
 * list is then a query of ids and revisions plus a copy of bytes; only VMs
 * that changed since are read and rendered again. Beside the JSON, the VM's
 * usage spans, also per revision: the store changes a VM's revision with
 * its spans (store/usage.c), so its cost so far is worked out from them at
 * each request without reading them again. Shared by the server's threads
 * under one lock.
 */
#include "api/vmcache.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/ids.h"
#include "util/str.h"

#define CACHE_MAX_ENTRIES (1 << 20)   /* more: start over (VMs deleted long ago go too) */

struct entry {
	char id[ID_MAX];
	int64_t rev;
	char *json;   /* NULL: none kept */
	size_t len;
	int64_t spans_rev;
	bool has_spans;
	struct usage_span *spans;
	int n_spans;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *table;
static size_t cap, used;

static size_t slot_of(const char *id)
{
	size_t h = 1469598103934665603ull;
	for (const unsigned char *p = (const unsigned char *)id; *p; p++)
		h = (h ^ *p) * 1099511628211ull;
	return h & (cap - 1);
}

static struct entry *find(const char *id)
{
	if (!cap)
		return NULL;
	for (size_t i = slot_of(id);; i = (i + 1) & (cap - 1)) {
		if (!table[i].id[0] || strcmp(table[i].id, id) == 0)
			return &table[i];
	}
}

static void clear_all(void)
{
	for (size_t i = 0; i < cap; i++) {
		free(table[i].json);
		free(table[i].spans);
	}
	free(table);
	table = NULL;
	cap = used = 0;
}

static void grow(void)
{
	struct entry *old = table;
	size_t old_cap = cap;
	cap = cap ? cap * 2 : 1024;
	table = xcalloc(cap, sizeof(*table));
	for (size_t i = 0; i < old_cap; i++)
		if (old[i].id[0])
			*find(old[i].id) = old[i];
	free(old);
}

void vmcache_clear(void)
{
	pthread_mutex_lock(&lock);
	clear_all();
	pthread_mutex_unlock(&lock);
}

bool vmcache_has(const char *id, int64_t rev)
{
	pthread_mutex_lock(&lock);
	struct entry *e = find(id);
	bool hit = e && e->json && e->rev == rev;
	pthread_mutex_unlock(&lock);
	return hit;
}

bool vmcache_append(struct sbuf *b, const char *id, int64_t rev)
{
	pthread_mutex_lock(&lock);
	struct entry *e = find(id);
	bool hit = e && e->json && e->rev == rev;
	if (hit)
		sbuf_addn(b, e->json, e->len);
	pthread_mutex_unlock(&lock);
	return hit;
}

/* VM id's entry, made if new; under the lock. */
static struct entry *entry_for(const char *id)
{
	if (used >= CACHE_MAX_ENTRIES)
		clear_all();
	if ((used + 1) * 2 > cap)
		grow();
	struct entry *e = find(id);
	if (!e->id[0]) {
		snprintf(e->id, sizeof(e->id), "%s", id);
		used++;
	}
	return e;
}

void vmcache_put(const char *id, int64_t rev, const char *json)
{
	pthread_mutex_lock(&lock);
	struct entry *e = entry_for(id);
	free(e->json);
	e->rev = rev;
	e->json = xstrdup(json);
	e->len = strlen(json);
	pthread_mutex_unlock(&lock);
}

bool vmcache_spans(const char *id, int64_t rev, struct usage_span **spans, int *n)
{
	pthread_mutex_lock(&lock);
	struct entry *e = find(id);
	bool hit = e && e->has_spans && e->spans_rev == rev;
	if (hit && e->n_spans) {
		*spans = xrealloc(*spans, sizeof(**spans) * (size_t)(*n + e->n_spans));
		memcpy(*spans + *n, e->spans, sizeof(**spans) * (size_t)e->n_spans);
		*n += e->n_spans;
	}
	pthread_mutex_unlock(&lock);
	return hit;
}

void vmcache_put_spans(const char *id, int64_t rev, const struct usage_span *spans, int n)
{
	pthread_mutex_lock(&lock);
	struct entry *e = entry_for(id);
	free(e->spans);
	e->spans = NULL;
	if (n) {
		e->spans = xcalloc((size_t)n, sizeof(*spans));
		memcpy(e->spans, spans, sizeof(*spans) * (size_t)n);
	}
	e->n_spans = n;
	e->spans_rev = rev;
	e->has_spans = true;
	pthread_mutex_unlock(&lock);
}
