/*
 * ids: resource ids ("vm-3f9a1c0b2d4e") and MAC addresses from the kernel's
 * random source. Ids are a prefix and 12 hex digits; MACs use the locally
 * administered prefix 52:54:00 that QEMU guests conventionally carry.
 */
#pragma once

#include <stddef.h>

#define ID_MAX 32

/* Writes "<prefix>-<12 hex>" into out (ID_MAX bytes). */
void id_new(const char *prefix, char out[ID_MAX]);
/* Writes "52:54:00:xx:xx:xx" into out (18 bytes). */
void id_mac_new(char out[18]);
/* Short stable hex digest of s (FNV-1a 32 bit), for host object names. */
unsigned id_hash32(const char *s);
