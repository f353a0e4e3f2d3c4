/*
 * accel: which QEMU accelerator this host can use.
 *
 * The one idea: /dev/kvm alone is not proof. Some machines expose a nested
 * "PVM" KVM whose /dev/kvm opens and creates VMs, yet cannot run a stock guest
 * kernel. Real hardware virtualisation shows as vmx (Intel) or svm (AMD) in
 * /proc/cpuinfo, so KVM is chosen only when the CPU flags say so AND /dev/kvm
 * answers the KVM API; everything else runs under TCG.
 */
#pragma once

#include <stddef.h>

enum accel { ACCEL_TCG, ACCEL_KVM };

/* "tcg" | "kvm" */
const char *accel_name(enum accel a);

/* Parses "tcg" or "kvm" (not "auto": the caller probes for that). Returns 0,
 * or -1 for any other name. */
int accel_from_name(const char *name, enum accel *out);

/* Probes the host. cpuinfo_path and kvm_path are NULL for /proc/cpuinfo and
 * /dev/kvm (tests pass fakes). why (may be NULL) receives one sentence for
 * the log explaining the choice, e.g.
 * "no vmx/svm in /proc/cpuinfo (nested PVM KVM cannot run stock guests)". */
enum accel accel_probe(const char *cpuinfo_path, const char *kvm_path, char *why, size_t why_len);
