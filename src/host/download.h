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

/* Downloads url to dest from another host's nubod, sending header (e.g.
 * "X-Nubo-Peer: SECRET") and, when dest.part is already there from a
 * transfer cut off (by a failure or a kill), asking only for the rest
 * (Range). dest.part is kept on failure, for the next try to go on from;
 * a server that answers the whole file (200) starts it over. Only a whole
 * body whose SHA-256 is sha256 (lowercase hex) is renamed to dest; a
 * mismatch removes dest.part, so the next try starts from nothing. Runs
 * in dry-run too: it only moves bytes between nubods' state directories.
 * pin, if not NULL or "", is the server's public-key pin (download_pin_of):
 * an https server is trusted when its key is that one, whatever its
 * certificate names or whoever signed it (the store, which both hosts
 * trust, says which key is the other host's); without a pin the system's
 * CAs decide, as for any download. */
int download_resume(const char *url, const char *header, const char *pin, const char *dest, const char *sha256,
		    download_progress_fn progress, void *arg, struct err *e);

/* A public-key pin: "sha256//" and the base64 of the SHA-256 of a
 * certificate's SubjectPublicKeyInfo (libcurl's CURLOPT_PINNEDPUBLICKEY). */
#define DOWNLOAD_PIN_MAX 64
/* The pin of the first certificate in the PEM file cert_path, into out. */
int download_pin_of(const char *cert_path, char out[DOWNLOAD_PIN_MAX], struct err *e);
/* Lowercase hex SHA-256 of a file, read here (not through a command, so in
 * dry-run too); out has 65 bytes. */
int download_sha256(const char *path, char out[65], struct err *e);
