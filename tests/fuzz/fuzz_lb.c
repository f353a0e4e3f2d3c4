/* fuzz_lb: the load balancer's parsers on the same text: listener, target,
 * health check, algorithm, duration, and an HTTP status line. What is
 * accepted is in range; a check path accepted holds nothing that could
 * break the request line; what is refused says why in valid UTF-8. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "host/health.h"
#include "model/lb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = fuzz_cstr(data, size);
	if (!s)
		return -1;
	struct err e = {0};
	struct lb_listener l;
	int rc = lb_listener_parse(s, "listen[0]", &l, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(l.port >= 1 && l.target_port >= 1, "\"%s\": port 0 accepted", s);

	char name[NAME_MAX_LEN + 1];
	uint16_t port = 0;
	rc = lb_target_parse(s, "targets[0]", name, &port, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(name[0] && strncmp(s, name, strlen(name)) == 0, "\"%s\" was read as VM %s", s, name);

	struct lb lb = {0};
	rc = lb_check_parse(s, "check", &lb, &e);
	if (rc < 0) {
		fuzz_check_err(rc, &e, s);
	} else if (lb.check == LB_CHECK_HTTP) {
		FUZZ_ASSERT(lb.check_path[0] == '/', "path \"%s\" without /", lb.check_path);
		for (const char *p = lb.check_path; *p; p++)
			FUZZ_ASSERT(*p > ' ' && *p < 0x7f, "path \"%s\" holds a space or control byte", lb.check_path);
	}

	enum lb_algorithm a;
	rc = lb_algorithm_parse(s, "algorithm", &a, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(strcmp(lb_algorithm_name(a), s) == 0, "\"%s\" was read as %s", s, lb_algorithm_name(a));

	int ms = 0;
	rc = lb_duration_parse(s, "interval", &ms, &e);
	if (rc < 0)
		fuzz_check_err(rc, &e, s);
	else
		FUZZ_ASSERT(ms >= 100 && ms <= 3600000, "\"%s\" was read as %d ms", s, ms);

	int code = health_http_status((const char *)data, size);
	FUZZ_ASSERT(code == -1 || code == 0 || (code >= 100 && code <= 599), "status %d", code);
	free(s);
	return 0;
}
