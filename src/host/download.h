/* download: fetching an image over HTTP(S) with libcurl, for imports. */
#pragma once

#include <stdint.h>

#include "util/err.h"

/* Called about twice a second while bytes arrive; total is 0 when unknown. */
typedef void (*download_progress_fn)(void *arg, uint64_t done, uint64_t total);

/* Downloads url to dest. Only a complete body appears under dest: it is
 * written to dest.part and renamed; an HTTP error, a body shorter than its
 * Content-Length, a stall of 60 s or a full disk is an error naming the URL
 * and the cause, and leaves no file. */
int download_file(const char *url, const char *dest, download_progress_fn progress, void *arg, struct err *e);
