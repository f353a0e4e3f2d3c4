/* stackfile: YAML to the stack document, with positions (see stackfile.h). */
#include "cli/stackfile.h"

#include <ctype.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "util/fs.h"
#include "util/str.h"

/* Deeper than any stack file needs; keeps a hostile file from exhausting the stack. */
#define DEPTH_MAX 32
#define FILE_MAX (4 * 1024 * 1024)
#define USER_DATA_FILE_MAX (64 * 1024)

struct conv {
	yaml_parser_t p;
	struct stackfile *sf;
	struct err *e;
};

static void add_pos(struct stackfile *sf, const char *path, const yaml_mark_t *m)
{
	sf->pos = xrealloc(sf->pos, sizeof(*sf->pos) * (size_t)(sf->n_pos + 1));
	sf->pos[sf->n_pos++] = (struct stackfile_pos){xstrdup(path), (int)m->line + 1, (int)m->column + 1};
}

static int at(struct conv *c, const yaml_mark_t *m, const char *path, const char *msg)
{
	return err_set(c->e, ERR_INVALID, "%s:%d:%d: %s%s%s", c->sf->name, (int)m->line + 1, (int)m->column + 1,
		       path && *path ? path : "", path && *path ? ": " : "", msg);
}

static int next(struct conv *c, yaml_event_t *ev)
{
	if (yaml_parser_parse(&c->p, ev))
		return 0;
	const yaml_mark_t *m = &c->p.problem_mark;
	return err_set(c->e, ERR_INVALID, "%s:%d:%d: YAML syntax: %s%s%s", c->sf->name, (int)m->line + 1,
		       (int)m->column + 1, c->p.problem ? c->p.problem : "cannot be read",
		       c->p.context ? " " : "", c->p.context ? c->p.context : "");
}

static bool is_int(const char *s)
{
	const char *p = s + (*s == '-' || *s == '+');
	if (!*p || strlen(p) > 15)
		return false;
	for (; *p; p++)
		if (!isdigit((unsigned char)*p))
			return false;
	return true;
}

/* A plain scalar as YAML's core schema reads it; quoted ones are strings. */
static json_t *scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return json_stringn(v, ev->data.scalar.length);
	if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "TRUE"))
		return json_true();
	if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "FALSE"))
		return json_false();
	if (!*v || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL"))
		return json_null();
	if (is_int(v))
		return json_integer(strtoll(v, NULL, 10));
	return json_stringn(v, ev->data.scalar.length);
}

static int node(struct conv *c, yaml_event_t *ev, const char *path, int depth, json_t **out);

static int mapping(struct conv *c, const char *path, int depth, json_t **out)
{
	json_t *obj = json_object();
	for (;;) {
		yaml_event_t k;
		if (next(c, &k) < 0)
			goto fail;
		if (k.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&k);
			*out = obj;
			return 0;
		}
		if (k.type != YAML_SCALAR_EVENT) {
			at(c, &k.start_mark, path, "a key must be a plain name, not a list or mapping");
			yaml_event_delete(&k);
			goto fail;
		}
		autofree char *key = xstrdup((const char *)k.data.scalar.value);
		autofree char *kp = *path ? xasprintf("%s.%s", path, key) : xstrdup(key);
		if (json_object_get(obj, key) || strlen(key) != k.data.scalar.length) {
			autofree char *msg = xasprintf("\"%s\" is given twice; give each field once", key);
			at(c, &k.start_mark, kp, msg);
			yaml_event_delete(&k);
			goto fail;
		}
		yaml_event_delete(&k);
		yaml_event_t v;
		json_t *val;
		if (next(c, &v) < 0)
			goto fail;
		int rc = node(c, &v, kp, depth + 1, &val);
		yaml_event_delete(&v);
		if (rc < 0)
			goto fail;
		json_object_set_new(obj, key, val);
	}
fail:
	json_decref(obj);
	return -1;
}

static int sequence(struct conv *c, const char *path, int depth, json_t **out)
{
	json_t *arr = json_array();
	for (size_t i = 0;; i++) {
		yaml_event_t v;
		if (next(c, &v) < 0)
			break;
		if (v.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&v);
			*out = arr;
			return 0;
		}
		autofree char *ip = xasprintf("%s[%zu]", path, i);
		json_t *val;
		int rc = node(c, &v, ip, depth + 1, &val);
		yaml_event_delete(&v);
		if (rc < 0)
			break;
		json_array_append_new(arr, val);
	}
	json_decref(arr);
	return -1;
}

/* The node that ev starts, as JSON; its position is recorded under path. */
static int node(struct conv *c, yaml_event_t *ev, const char *path, int depth, json_t **out)
{
	if (depth > DEPTH_MAX)
		return at(c, &ev->start_mark, path, "nested too deeply for a stack file");
	if (ev->type == YAML_ALIAS_EVENT)
		return at(c, &ev->start_mark, path, "aliases (*name) are not supported; write the value out");
	const yaml_char_t *anchor = ev->type == YAML_SCALAR_EVENT	  ? ev->data.scalar.anchor
				    : ev->type == YAML_SEQUENCE_START_EVENT ? ev->data.sequence_start.anchor
				    : ev->type == YAML_MAPPING_START_EVENT  ? ev->data.mapping_start.anchor
									    : NULL;
	if (anchor)
		return at(c, &ev->start_mark, path, "anchors (&name) are not supported; write the value out");
	add_pos(c->sf, path, &ev->start_mark);
	switch (ev->type) {
	case YAML_SCALAR_EVENT: *out = scalar(ev); return 0;
	case YAML_MAPPING_START_EVENT: return mapping(c, path, depth, out);
	case YAML_SEQUENCE_START_EVENT: return sequence(c, path, depth, out);
	default: return at(c, &ev->start_mark, path, "unexpected YAML event");
	}
}

static int document(struct conv *c)
{
	yaml_event_t ev;
	int rc = 0;
	while (rc == 0) {   /* stream and document start */
		if (next(c, &ev) < 0)
			return -1;
		if (ev.type == YAML_STREAM_END_EVENT) {
			rc = at(c, &ev.start_mark, "", "the file is empty; a stack file starts with stack: NAME");
		} else if (ev.type == YAML_STREAM_START_EVENT || ev.type == YAML_DOCUMENT_START_EVENT) {
			yaml_event_delete(&ev);
			continue;
		} else {
			rc = node(c, &ev, "", 0, &c->sf->doc);
		}
		yaml_event_delete(&ev);
		break;
	}
	if (rc < 0)
		return -1;
	if (next(c, &ev) < 0)   /* document end */
		return -1;
	yaml_event_delete(&ev);
	if (next(c, &ev) < 0)
		return -1;
	if (ev.type != YAML_STREAM_END_EVENT)
		rc = at(c, &ev.start_mark, "", "a stack file holds one YAML document; this is a second one");
	yaml_event_delete(&ev);
	return rc;
}

static const struct stackfile_pos *find_pos(const struct stackfile *sf, const char *path)
{
	for (int i = 0; i < sf->n_pos; i++)
		if (strcmp(sf->pos[i].path, path) == 0)
			return &sf->pos[i];
	return NULL;
}

/* SECTION.*.user_data_file: read beside the stack file, sent as user_data. */
static int read_user_data_files(struct stackfile *sf, const char *section, const char *dir, struct err *e)
{
	json_t *sec = json_object_get(sf->doc, section);
	const char *name;
	json_t *res;
	json_object_foreach(sec, name, res) {
		json_t *f = json_object_get(res, "user_data_file");
		if (!f)
			continue;
		autofree char *path = xasprintf("%s.%s.user_data_file", section, name);
		char where[1100];
		const char *file = json_string_value(f);
		const char *problem = NULL;
		autofree char *msg = NULL;
		if (!file)
			problem = "must be a file name";
		else if (json_object_get(res, "user_data"))
			problem = "give user_data or user_data_file, not both";
		else if (!dir)
			problem = "files are not read here";
		if (!problem) {
			autofree char *full = file[0] == '/' ? xstrdup(file) : xasprintf("%s/%s", dir, file);
			char *text = NULL;
			size_t len = 0;
			struct err fe = {0};
			if (fs_read_file(full, USER_DATA_FILE_MAX, &text, &len, &fe) < 0) {
				msg = xasprintf("%s", fe.msg);
				problem = msg;
			} else {
				json_object_set_new(res, "user_data", json_stringn(text, len));
				free(text);
				const struct stackfile_pos *p = find_pos(sf, path);
				if (p) {   /* errors about the user data point at the file's name */
					autofree char *up = xasprintf("%s.%s.user_data", section, name);
					yaml_mark_t m = {0, (size_t)p->line - 1, (size_t)p->col - 1};
					add_pos(sf, up, &m);
				}
				json_object_del(res, "user_data_file");
				continue;
			}
		}
		autofree char *full_msg = xasprintf("%s: %s", path, problem);
		stackfile_locate(sf, full_msg, where, sizeof(where));
		return err_set(e, ERR_INVALID, "%s", where);
	}
	return 0;
}

int stackfile_parse(const char *name, const char *text, size_t len, const char *dir, struct stackfile *out,
		    struct err *e)
{
	memset(out, 0, sizeof(*out));
	out->name = xstrdup(name);
	struct conv c = {.sf = out, .e = e};
	if (!yaml_parser_initialize(&c.p))
		return err_set(e, ERR_INTERNAL, "%s: cannot start the YAML parser", name);
	yaml_parser_set_input_string(&c.p, (const unsigned char *)text, len);
	int rc = document(&c);
	yaml_parser_delete(&c.p);
	if (rc == 0 && json_is_object(out->doc))
		rc = read_user_data_files(out, "vms", dir, e);
	if (rc == 0 && json_is_object(out->doc))
		rc = read_user_data_files(out, "groups", dir, e);
	return rc;
}

int stackfile_load(const char *file, struct stackfile *out, struct err *e)
{
	char *text = NULL;
	size_t len = 0;
	struct err fe = {0};
	memset(out, 0, sizeof(*out));
	if (fs_read_file(file, FILE_MAX, &text, &len, &fe) < 0) {
		out->name = xstrdup(file);
		return err_set(e, ERR_INVALID, "%s", fe.msg);
	}
	autofree char *copy = xstrdup(file);
	int rc = stackfile_parse(file, text, len, dirname(copy), out, e);
	free(text);
	return rc;
}

void stackfile_free(struct stackfile *sf)
{
	if (!sf)
		return;
	for (int i = 0; i < sf->n_pos; i++)
		free(sf->pos[i].path);
	free(sf->pos);
	free(sf->name);
	json_decref(sf->doc);
	memset(sf, 0, sizeof(*sf));
}

void stackfile_locate(const struct stackfile *sf, const char *msg, char *out, size_t n)
{
	size_t len = 0;
	while (msg[len] && (isalnum((unsigned char)msg[len]) || strchr("._-[]", msg[len])))
		len++;
	char path[STACK_PATH_MAX + 64];
	snprintf(path, sizeof(path), "%.*s", (int)(len < sizeof(path) ? len : sizeof(path) - 1), msg);
	/* The field itself, else the nearest enclosing one the file has. */
	while (path[0]) {
		const struct stackfile_pos *p = find_pos(sf, path);
		if (p) {
			snprintf(out, n, "%s:%d:%d: %s", sf->name, p->line, p->col, msg);
			return;
		}
		char *cut = strrchr(path, '.');
		char *br = strrchr(path, '[');
		if (br && (!cut || br > cut))
			cut = br;
		if (!cut)
			break;
		*cut = '\0';
	}
	const struct stackfile_pos *root = find_pos(sf, "");
	if (root && strncmp(msg, "stack:", 6) == 0)
		snprintf(out, n, "%s:%d:%d: %s", sf->name, root->line, root->col, msg);
	else
		snprintf(out, n, "%s: %s", sf->name, msg);
}

int stackfile_check(const struct stackfile *sf, struct stack *out, struct err *e)
{
	struct err me = {0};
	if (stack_parse(sf->doc, out, &me) == 0)
		return 0;
	char where[1100];
	stackfile_locate(sf, me.msg, where, sizeof(where));
	return err_set(e, me.kind, "%s", where);
}
