/*
 * migrations: append-only. A released step is never edited; a change to the
 * schema is a new step with the next number.
 */
#include "store/migrations.h"

const struct migration store_migrations[] = {
	{1, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
	    "CREATE TABLE networks ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, cidr TEXT NOT NULL,"
	    "  bridge TEXT NOT NULL UNIQUE, nat INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	    "CREATE TABLE images ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, recipe TEXT NOT NULL, state TEXT NOT NULL,"
	    "  boot TEXT NOT NULL, user TEXT NOT NULL, cmdline TEXT, os TEXT, error TEXT,"
	    "  size_bytes INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, op_id TEXT);"
	    "CREATE TABLE vms ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE,"
	    "  type TEXT NOT NULL, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"
	    "  image TEXT NOT NULL, image_id TEXT NOT NULL, network TEXT NOT NULL, ip TEXT, mac TEXT NOT NULL,"
	    "  ssh_keys TEXT, ssh_key_file TEXT, user_data TEXT, ssh_user TEXT NOT NULL,"
	    "  power TEXT NOT NULL, force_stop INTEGER NOT NULL DEFAULT 0, reboot INTEGER NOT NULL DEFAULT 0,"
	    "  state TEXT NOT NULL, reason TEXT, pid INTEGER NOT NULL DEFAULT 0, accel TEXT,"
	    "  created_at INTEGER NOT NULL, started_at INTEGER NOT NULL DEFAULT 0,"
	    "  state_since INTEGER NOT NULL DEFAULT 0, deadline INTEGER NOT NULL DEFAULT 0,"
	    "  boot_phases TEXT, op_id TEXT);"
	    "CREATE UNIQUE INDEX vms_network_ip ON vms (network, ip);"
	    "CREATE INDEX vms_image ON vms (image_id);"
	    "CREATE TABLE operations ("
	    "  id TEXT PRIMARY KEY, kind TEXT NOT NULL, target TEXT NOT NULL, target_name TEXT NOT NULL,"
	    "  state TEXT NOT NULL, error TEXT, phases TEXT, created_at INTEGER NOT NULL,"
	    "  finished_at INTEGER NOT NULL DEFAULT 0);"
	    "CREATE INDEX operations_target ON operations (target);"},
	{2, "ALTER TABLE vms ADD COLUMN disk_size_bytes INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE vms ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE images ADD COLUMN virtual_size_bytes INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE images ADD COLUMN source TEXT;"
	    "ALTER TABLE images ADD COLUMN sha256 TEXT;"},
	{3, "CREATE TABLE volumes ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, size_bytes INTEGER NOT NULL, state TEXT NOT NULL,"
	    "  attach_to TEXT NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0,"
	    "  attached_vm TEXT NOT NULL DEFAULT '', slot INTEGER NOT NULL DEFAULT -1,"
	    "  unplugging INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, op_id TEXT);"},
	{4, "ALTER TABLE vms ADD COLUMN ephemeral_bytes INTEGER NOT NULL DEFAULT 0;"},
	{5, "ALTER TABLE operations ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE operations ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;"},
	{6, "CREATE TABLE snapshots ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vm_id TEXT NOT NULL, vm_name TEXT NOT NULL,"
	    "  image_id TEXT NOT NULL, parent TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,"
	    "  virtual_size INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, op_id TEXT);"
	    "ALTER TABLE vms ADD COLUMN base_snapshot TEXT NOT NULL DEFAULT '';"
	    "ALTER TABLE vms ADD COLUMN restore_from TEXT NOT NULL DEFAULT '';"},
	{7, "ALTER TABLE snapshots ADD COLUMN volume_id TEXT NOT NULL DEFAULT '';"
	    "ALTER TABLE volumes ADD COLUMN from_snapshot TEXT NOT NULL DEFAULT '';"},
	{8, "ALTER TABLE images ADD COLUMN kernel_source TEXT;"
	    "ALTER TABLE images ADD COLUMN initrd_source TEXT;"},
	/* Several NICs per VM; firewalls (security groups) and port forwards. */
	{9, "CREATE TABLE nics ("
	    "  vm_id TEXT NOT NULL, idx INTEGER NOT NULL, network_id TEXT NOT NULL, ip TEXT NOT NULL,"
	    "  mac TEXT NOT NULL, PRIMARY KEY (vm_id, idx));"
	    "CREATE UNIQUE INDEX nics_network_ip ON nics (network_id, ip);"
	    "CREATE UNIQUE INDEX nics_mac ON nics (mac);"
	    "INSERT INTO nics (vm_id, idx, network_id, ip, mac)"
	    "  SELECT v.id, 0, n.id, v.ip, v.mac FROM vms v JOIN networks n ON n.name = v.network"
	    "  WHERE v.ip IS NOT NULL AND v.ip != '';"
	    "DROP INDEX vms_network_ip;"
	    "ALTER TABLE vms DROP COLUMN network;"
	    "ALTER TABLE vms DROP COLUMN ip;"
	    "ALTER TABLE vms DROP COLUMN mac;"
	    "ALTER TABLE networks ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"
	    "CREATE TABLE firewalls ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, description TEXT NOT NULL DEFAULT '',"
	    "  created_at INTEGER NOT NULL);"
	    "CREATE TABLE firewall_rules ("
	    "  id TEXT PRIMARY KEY, firewall_id TEXT NOT NULL, proto TEXT NOT NULL, port_lo INTEGER NOT NULL,"
	    "  port_hi INTEGER NOT NULL, from_cidr TEXT NOT NULL DEFAULT '',"
	    "  from_firewall_id TEXT NOT NULL DEFAULT '', created_at INTEGER NOT NULL);"
	    "CREATE INDEX firewall_rules_fw ON firewall_rules (firewall_id);"
	    "CREATE TABLE vm_firewalls ("
	    "  vm_id TEXT NOT NULL, idx INTEGER NOT NULL, firewall_id TEXT NOT NULL,"
	    "  PRIMARY KEY (vm_id, firewall_id));"
	    "CREATE INDEX vm_firewalls_fw ON vm_firewalls (firewall_id);"
	    "CREATE TABLE forwards ("
	    "  vm_id TEXT NOT NULL, proto TEXT NOT NULL, host_port INTEGER NOT NULL, guest_port INTEGER NOT NULL,"
	    "  created_at INTEGER NOT NULL, PRIMARY KEY (proto, host_port));"},
	{10, "CREATE TABLE tokens ("
	     "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE,"
	     "  created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL DEFAULT 0);"},
	{11, "ALTER TABLE vms ADD COLUMN no_seed INTEGER NOT NULL DEFAULT 0;"},
	/* A revision per VM that changes with anything its JSON shows (its row,
	 * its NICs, its firewalls), for caches of rendered VMs. Triggers, so no
	 * writer can forget it. */
	{12, "ALTER TABLE vms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
	     "CREATE TRIGGER vms_rev AFTER UPDATE ON vms WHEN NEW.rev = OLD.rev"
	     "  BEGIN UPDATE vms SET rev = OLD.rev + 1 WHERE id = NEW.id; END;"
	     "CREATE TRIGGER nics_rev_ins AFTER INSERT ON nics"
	     "  BEGIN UPDATE vms SET rev = rev + 1 WHERE id = NEW.vm_id; END;"
	     "CREATE TRIGGER nics_rev_del AFTER DELETE ON nics"
	     "  BEGIN UPDATE vms SET rev = rev + 1 WHERE id = OLD.vm_id; END;"
	     "CREATE TRIGGER vm_firewalls_rev_ins AFTER INSERT ON vm_firewalls"
	     "  BEGIN UPDATE vms SET rev = rev + 1 WHERE id = NEW.vm_id; END;"
	     "CREATE TRIGGER vm_firewalls_rev_del AFTER DELETE ON vm_firewalls"
	     "  BEGIN UPDATE vms SET rev = rev + 1 WHERE id = OLD.vm_id; END;"},
};

const int store_migrations_count = sizeof(store_migrations) / sizeof(store_migrations[0]);
