/*
 * seed_store: puts rows into a nubod store through the store library itself
 * (the same code nubod uses), for the benchmarks. Run it while no nubod
 * writes to the store, or accept SQLite's busy wait.
 *
 *   seed_store DB vms COUNT [PREFIX]
 *       COUNT VM rows named PREFIX-000001… (default "bench"), type small,
 *       state running with boot phases, a NIC on the default network (with
 *       an address of its own, not necessarily inside the subnet) and the
 *       default firewall each, as a booted VM would have, billed at the
 *       default prices; nothing is started (nubod runs with --dry-run on them).
 *   seed_store DB image NEW_NAME FROM_IMAGE
 *       A new ready image row that copies FROM_IMAGE's fields under a fresh
 *       id; prints the id. The caller puts the files in images/<id>/.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store.h"
#include "util/ids.h"
#include "util/timeutil.h"

static int seed_vms(struct store *st, int count, const char *prefix)
{
	struct err e = {0};
	int64_t now = time_now_ms();
	struct network net;
	struct firewall fw;
	/* nubod made both when it first opened the store. */
	if (store_network_get(st, "default", &net, &e) < 0 || store_firewall_get(st, "default", &fw, &e) < 0)
		goto fail;
	/* Billed at the prices of a nubod without a nubod.json, as such a nubod
	 * would have metered them: its start finds nothing to meter again. */
	struct usage_prices prices;
	struct type_catalog types;
	usage_prices_default(&prices);
	catalog_init_default(&types);
	store_usage_set_prices(st, &prices, &types);
	catalog_free(&types);
	if (store_tx_begin(st, &e) < 0)
		goto fail;
	for (int i = 1; i <= count; i++) {
		struct vm vm = {0};
		id_new("vm", vm.id);
		snprintf(vm.name, sizeof(vm.name), "%s-%06d", prefix, i);
		snprintf(vm.type, sizeof(vm.type), "small");
		vm.vcpus = 1;
		/* As nubod records a running VM: QEMU has the vCPUs asked for.
		 * Left at 0, every row would be due a live resize, which the
		 * reconciler carries out (a write per VM) during the measurement. */
		vm.live_vcpus = vm.vcpus;
		vm.memory_mib = 1024;
		vm.live_memory_mib = vm.memory_mib;
		snprintf(vm.image, sizeof(vm.image), "tiny");
		snprintf(vm.image_id, sizeof(vm.image_id), "img-000000000000");
		struct vm_nic *nic = &vm.nics[vm.n_nics++];
		snprintf(nic->network, sizeof(nic->network), "%s", net.name);
		snprintf(nic->network_id, sizeof(nic->network_id), "%s", net.id);
		snprintf(nic->ip, sizeof(nic->ip), "10.%hhu.%hhu.%hhu", (unsigned char)(100 + i / 62500),
			 (unsigned char)((i / 250) % 250), (unsigned char)(i % 250 + 2));
		snprintf(nic->mac, sizeof(nic->mac), "52:54:01:%02x:%02x:%02x", (i >> 16) & 255, (i >> 8) & 255, i & 255);
		vm.firewalls[vm.n_firewalls++] = (struct vm_firewall){0};
		snprintf(vm.firewalls[0].id, sizeof(vm.firewalls[0].id), "%s", fw.id);
		snprintf(vm.firewalls[0].name, sizeof(vm.firewalls[0].name), "%s", fw.name);
		vm.ssh_keys = (char *)"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBenchBenchBenchBenchBenchBenchBenchBe bench";
		vm.ssh_key_file = (char *)"/root/.ssh/id_ed25519.pub";
		snprintf(vm.ssh_user, sizeof(vm.ssh_user), "root");
		vm.power = POWER_RUNNING;
		vm.state = VM_RUNNING;
		vm.pid = -1;  /* dry-run: "launched", no process */
		snprintf(vm.accel, sizeof(vm.accel), "tcg");
		vm.created_at = now - 3600 * 1000;
		vm.started_at = vm.created_at + 4000;
		vm.state_since = vm.started_at;
		phases_mark(&vm.boot, "scheduled", vm.created_at, vm.created_at + 1);
		phases_mark(&vm.boot, "disk", vm.created_at, vm.created_at + 30);
		phases_mark(&vm.boot, "boot", vm.created_at, vm.created_at + 150);
		phases_mark(&vm.boot, "ssh-ready", vm.created_at, vm.created_at + 4000);
		id_new("op", vm.op_id);
		if (store_vm_insert(st, &vm, &e) < 0) {
			store_tx_end(st, false, NULL);
			goto fail;
		}
	}
	if (store_tx_end(st, true, &e) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "seed_store: %s\n", e.msg);
	return 1;
}

static int seed_image(struct store *st, const char *name, const char *from)
{
	struct err e = {0};
	struct image img;
	if (store_image_get(st, from, &img, &e) < 0) {
		fprintf(stderr, "seed_store: %s\n", e.msg);
		return 1;
	}
	struct image copy = img;
	id_new("img", copy.id);
	snprintf(copy.name, sizeof(copy.name), "%s", name);
	snprintf(copy.state, sizeof(copy.state), "ready");
	copy.created_at = time_now_ms();
	copy.op_id[0] = '\0';
	int rc = store_image_insert(st, &copy, &e);
	image_free_fields(&img);
	if (rc < 0) {
		fprintf(stderr, "seed_store: %s\n", e.msg);
		return 1;
	}
	printf("%s\n", copy.id);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: seed_store DB vms COUNT [PREFIX] | seed_store DB image NEW_NAME FROM_IMAGE\n");
		return 2;
	}
	struct err e = {0};
	struct store *st = NULL;
	if (store_open(argv[1], &st, &e) < 0) {
		fprintf(stderr, "seed_store: %s\n", e.msg);
		return 1;
	}
	int rc = 2;
	if (!strcmp(argv[2], "vms") && (argc == 4 || argc == 5))
		rc = seed_vms(st, atoi(argv[3]), argc == 5 ? argv[4] : "bench");
	else if (!strcmp(argv[2], "image") && argc == 5)
		rc = seed_image(st, argv[3], argv[4]);
	else
		fprintf(stderr, "seed_store: bad arguments\n");
	store_close(st);
	return rc;
}
