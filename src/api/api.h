/*
 * api: nubod's REST API under /v1 (libmicrohttpd). Handlers validate the
 * request, call ctl to change specs and answer; they never touch the host.
 */
#pragma once

#include "ctl/ctl.h"
#include "util/err.h"

struct api_server;

struct api_options {
	const char *socket_path;   /* unix socket, mode 0660 */
};

int api_start(struct ctl *c, const struct api_options *o, struct api_server **out, struct err *e);
void api_stop(struct api_server *s);
