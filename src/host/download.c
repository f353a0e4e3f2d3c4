/*
 * download: libcurl's easy interface into a .part file (see download.h).
 * Only http and https are followed, redirects included; progress callbacks
 * are throttled so a fast download does not flood the store with updates.
 */
#include "host/download.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <gnutls/abstract.h>
#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <sys/stat.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

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

/* What every download asks of libcurl: HTTP(S) only, an error status is a
 * failure, a stalled transfer (under a byte a second for a minute) gives
 * up, progress through x, the reason in why (CURL_ERROR_SIZE). */
static void easy_common(CURL *h, struct xfer *x, char *why)
{
	curl_easy_setopt(h, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
	curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, why);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
}

int download_file(const char *url, const char *dest, download_progress_fn progress, void *arg, struct err *e)
{
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
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
	curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	easy_common(h, &x, why);
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

int download_sha256(const char *path, char out[65], struct err *e)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return err_set(e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(errno));
	gnutls_hash_hd_t h;
	if (gnutls_hash_init(&h, GNUTLS_DIG_SHA256) < 0) {
		close(fd);
		return err_set(e, ERR_INTERNAL, "cannot start a SHA-256 (gnutls)");
	}
	static __thread unsigned char buf[1 << 16];
	ssize_t n;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		gnutls_hash(h, buf, (size_t)n);
	int saved = errno;
	close(fd);
	unsigned char d[32];
	gnutls_hash_deinit(h, d);
	if (n < 0)
		return err_set(e, ERR_INTERNAL, "cannot read %s: %s", path, strerror(saved));
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
	return 0;
}

struct resume {
	CURL *h;
	FILE *f;
	long long from;      /* bytes of dest.part asked to be skipped */
	bool started;        /* the status is known and f is positioned */
	bool failed;
};

/* Where the body goes, decided at its first bytes (the headers are in by
 * then): after what dest.part holds for a 206, from the start for anything
 * else (a 200: the server sent all of it). */
static int resume_position(struct resume *r)
{
	long code = 0;
	curl_easy_getinfo(r->h, CURLINFO_RESPONSE_CODE, &code);
	if (code == 206)
		return fseeko(r->f, r->from, SEEK_SET);
	r->from = 0;
	if (fflush(r->f) != 0 || ftruncate(fileno(r->f), 0) != 0)
		return -1;
	return fseeko(r->f, 0, SEEK_SET);
}

static size_t on_resume_body(char *data, size_t size, size_t n, void *arg)
{
	struct resume *r = arg;
	if (!r->started) {
		r->started = true;
		if (resume_position(r) < 0) {
			r->failed = true;
			return 0;
		}
	}
	if (fwrite(data, size, n, r->f) != n) {
		r->failed = true;
		return 0;
	}
	return size * n;
}

int download_resume(const char *url, const char *header, const char *pin, const char *dest, const char *sha256,
		    download_progress_fn progress, void *arg, struct err *e)
{
	autofree char *part = xasprintf("%s.part", dest);
	FILE *f = fopen(part, "ab+");
	if (!f)
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", part, strerror(errno));
	struct stat st;
	long long from = fstat(fileno(f), &st) == 0 ? (long long)st.st_size : 0;
	fclose(f);
	f = fopen(part, "rb+");
	if (!f)
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", part, strerror(errno));
	CURL *h = curl_easy_init();
	if (!h) {
		fclose(f);
		return err_set(e, ERR_INTERNAL, "cannot start a download (libcurl)");
	}
	char why[CURL_ERROR_SIZE] = "", range[32];
	struct resume r = {.h = h, .f = f, .from = from};
	struct xfer x = {.fn = progress, .arg = arg};
	struct curl_slist *hdrs = header ? curl_slist_append(NULL, header) : NULL;
	snprintf(range, sizeof(range), "%lld-", from);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	if (from > 0)
		curl_easy_setopt(h, CURLOPT_RANGE, range);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_resume_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
	if (pin && *pin) {
		/* The pin is the trust: libcurl checks it whether or not it
		 * verifies the chain, and the certificate need not name the
		 * address the host is reached at. */
		curl_easy_setopt(h, CURLOPT_PINNEDPUBLICKEY, pin);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	easy_common(h, &x, why);
	CURLcode rc = curl_easy_perform(h);
	long code = 0;
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (rc == CURLE_HTTP_RETURNED_ERROR && code == 416 && from > 0)
		rc = CURLE_OK;   /* nothing after what dest.part holds: the checksum says whether it is whole */
	else if (rc == CURLE_OK && !r.started && resume_position(&r) < 0)
		r.failed = true;   /* an empty body: the status still says where the file stands */
	if (r.failed && rc == CURLE_OK)
		rc = CURLE_WRITE_ERROR;
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	int closed = fclose(f);
	if (rc != CURLE_OK)
		return err_set(e, ERR_UNAVAILABLE, "cannot fetch %s: %s (%s is kept; the next try goes on from it)", url,
			       r.failed ? "cannot write the file" : why[0] ? why : curl_easy_strerror(rc), part);
	if (closed != 0)
		return err_set(e, ERR_INTERNAL, "cannot write %s: %s", part, strerror(errno));
	char got[65];
	if (download_sha256(part, got, e) < 0)
		return -1;
	if (strcmp(got, sha256) != 0) {
		unlink(part);
		return err_set(e, ERR_INTERNAL, "%s has SHA-256 %s, not %s as the store records: removed, the next try "
				       "starts over", url, got, sha256);
	}
	if (rename(part, dest) < 0)
		return err_set(e, ERR_INTERNAL, "cannot rename %s: %s", part, strerror(errno));
	return 0;
}

int download_pin_of(const char *cert_path, char out[DOWNLOAD_PIN_MAX], struct err *e)
{
	gnutls_datum_t pem = {0}, der = {0}, b64 = {0};
	gnutls_x509_crt_t *crts = NULL;
	unsigned ncrt = 0;
	gnutls_pubkey_t pub = NULL;
	unsigned char sum[32];
	int rc = gnutls_load_file(cert_path, &pem);
	if (rc < 0) {
		err_set(e, ERR_INVALID, "cannot read the certificate %s: %s", cert_path, gnutls_strerror(rc));
		goto out;
	}
	rc = gnutls_x509_crt_list_import2(&crts, &ncrt, &pem, GNUTLS_X509_FMT_PEM, 0);
	if (rc >= 0 && ncrt == 0)
		rc = GNUTLS_E_NO_CERTIFICATE_FOUND;
	if (rc >= 0)
		rc = gnutls_pubkey_init(&pub);
	if (rc >= 0)
		rc = gnutls_pubkey_import_x509(pub, crts[0], 0);
	if (rc >= 0)
		rc = gnutls_pubkey_export2(pub, GNUTLS_X509_FMT_DER, &der);
	if (rc >= 0)
		rc = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, sum);
	if (rc >= 0)
		rc = gnutls_base64_encode2(&(gnutls_datum_t){sum, sizeof(sum)}, &b64);
	if (rc < 0)
		err_set(e, ERR_INVALID, "cannot read the public key of the certificate %s: %s", cert_path,
			gnutls_strerror(rc));
	else
		snprintf(out, DOWNLOAD_PIN_MAX, "sha256//%.*s", (int)b64.size, (const char *)b64.data);
out:
	gnutls_free(b64.data);
	gnutls_free(der.data);
	if (pub)
		gnutls_pubkey_deinit(pub);
	for (unsigned i = 0; i < ncrt; i++)
		gnutls_x509_crt_deinit(crts[i]);
	gnutls_free(crts);
	gnutls_free(pem.data);
	return rc < 0 ? -1 : 0;
}
