/* fuzz_qmp: what nubod reads from a QMP socket, from the greeting on. The
 * input is what "QEMU" sends, all of it, before it closes its end: the
 * client reads the greeting, negotiates capabilities, runs query-status and
 * reads its status. Whatever arrives, each step either succeeds with what
 * the protocol promises or fails with a message, and never waits (the
 * peer's end is closed, so a read that finds no line ends at once). */
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common.h"
#include "host/qmp-priv.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int sv[2];
	if (size > 60000 || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	/* A socket's buffer holds far more than -max_len; QEMU's side is then closed for writing. */
	size_t off = 0;
	while (off < size) {
		ssize_t w = write(sv[1], data + off, size - off);
		FUZZ_ASSERT(w > 0, "cannot fill the socket pair (%zu of %zu bytes)", off, size);
		off += (size_t)w;
	}
	shutdown(sv[1], SHUT_WR);
	struct qmp *q = NULL;
	struct err e = {0};
	int rc = qmp_open_fd(sv[0], "fuzz.qmp", 1000, &q, &e);
	if (rc == 0) {
		json_t *ret = NULL;
		rc = qmp_execute(q, "query-status", NULL, &ret, &e);
		if (rc == 0) {
			FUZZ_ASSERT(ret != NULL, "query-status succeeded without a return value");
			char status[32];
			memset(status, 'x', sizeof(status));
			struct err se = {0};
			if (qmp_status_of("fuzz.qmp", ret, status, sizeof(status), &se) == 0)
				FUZZ_ASSERT(strlen(status) < sizeof(status) &&
						    strcmp(status, json_string_value(json_object_get(ret, "status"))) == 0,
					    "status \"%.31s\" is not the one sent", status);
			else
				FUZZ_ASSERT(se.msg[0] && fuzz_utf8(se.msg, strlen(se.msg)), "a status error without a UTF-8 message");
			json_decref(ret);
		}
		qmp_close(q);
	}
	if (rc < 0)
		FUZZ_ASSERT(e.msg[0] && fuzz_utf8(e.msg, strlen(e.msg)), "a QMP failure (%d) without a UTF-8 message", rc);
	close(sv[1]);
	return 0;
}
