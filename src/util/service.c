/* service: sd_notify when built with libsystemd, nothing otherwise (see service.h). */
#include "util/service.h"

#include "config.h"
#include "util/log.h"

#ifdef NUBO_HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

bool service_notify_supported(void)
{
#ifdef NUBO_HAVE_LIBSYSTEMD
	return true;
#else
	return false;
#endif
}

#ifdef NUBO_HAVE_LIBSYSTEMD
/* sd_notify returns 0 when NOTIFY_SOCKET is not set (not a notify service):
 * that is the normal case for a nubod started by hand. A negative answer
 * means systemd waits for a READY that never comes and fails the start, so
 * it is worth a line in the log. */
static void notify(const char *state)
{
	int rc = sd_notify(0, state);
	if (rc < 0)
		log_warn("could not tell systemd \"%s\": error %d", state, -rc);
}
#endif

void service_notify_ready(const char *status)
{
#ifdef NUBO_HAVE_LIBSYSTEMD
	int rc = sd_notifyf(0, "READY=1\nSTATUS=%s\n", status ? status : "ready");
	if (rc < 0)
		log_warn("could not tell systemd that nubod is ready: error %d", -rc);
#else
	(void)status;
#endif
}

void service_notify_stopping(void)
{
#ifdef NUBO_HAVE_LIBSYSTEMD
	notify("STOPPING=1\nSTATUS=stopping; VMs keep running\n");
#endif
}
