/*
 * download: libcurl's easy interface into a .part file (see download.h).
 * Only http and https are followed, redirects included; progress callbacks
 * are throttled so a fast download does not flood the store with updates.
 */
#include "host/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/runner.h"
#include "util/str.h"
#include "util/timeutil.h"

struct xfer {
	download_progress_fn fn;
	void *arg;
	int64_t last_ms;
};

static int on_progress(void *p, curl_off_t total, curl_off_t done, curl_off_t ut, curl_off_t un)
{
	(void)ut;
	(void)un;
	struct xfer *x = p;
	int64_t now = time_mono_ms();
	if (x->fn && now - x->last_ms >= 500) {
		x->last_ms = now;
		x->fn(x->arg, (uint64_t)done, (uint64_t)total);
	}
	return 0;
}

int download_file(const char *url, const char *dest, download_progress_fn progress, void *arg, struct err *e)
{
	if (runner_dry_run()) {
		runner_capture_note("download %s %s", url, dest);
		return 0;
	}
	autofree char *part = xasprintf("%s.part", dest);
	FILE *f = fopen(part, "wb");
	if (!f)
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", part, strerror(errno));
	CURL *h = curl_easy_init();
	if (!h) {
		fclose(f);
		unlink(part);
		return err_set(e, ERR_INTERNAL, "cannot start a download (libcurl)");
	}
	char why[CURL_ERROR_SIZE] = "";
	struct xfer x = {.fn = progress, .arg = arg};
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, f);
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, &x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	CURLcode rc = curl_easy_perform(h);
	curl_off_t total = 0;
	curl_easy_getinfo(h, CURLINFO_SIZE_DOWNLOAD_T, &total);
	curl_easy_cleanup(h);
	/* A failed flush (a full disk) counts as much as a failed transfer. */
	int closed = fclose(f);
	if (rc == CURLE_OK && closed != 0) {
		int saved = errno;
		unlink(part);
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", part, strerror(saved));
	}
	if (rc != CURLE_OK) {
		unlink(part);
		if (rc == CURLE_PARTIAL_FILE)
			return err_set(e, ERR_UNPROCESSABLE, "the download of %s was cut short after %lld bytes", url,
				       (long long)total);
		return err_set(e, ERR_UNPROCESSABLE, "cannot download %s: %s", url, why[0] ? why : curl_easy_strerror(rc));
	}
	if (progress)
		progress(arg, (uint64_t)total, (uint64_t)total);
	if (rename(part, dest) < 0) {
		int saved = errno;
		unlink(part);
		return err_set(e, ERR_INTERNAL, "cannot rename %s: %s", part, strerror(saved));
	}
	return 0;
}
