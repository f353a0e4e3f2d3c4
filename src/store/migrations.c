/*
 * migrations: append-only. A released step is never edited; a change to the
 * schema is a new step with the next number, run by whichever nubod starts
 * first (on PostgreSQL under an advisory lock, so the others wait for it).
 *
 * One list for both engines. A step's sql is what both run; where
 * PostgreSQL needs other words (types, triggers), the step's pg says so.
 * PostgreSQL stores begin at step 12, which creates the schema of steps
 * 1-12 at once with its own types: BIGINT for every column that holds
 * milliseconds or bytes, and text compared byte by byte (COLLATE "C"), as
 * SQLite does, so that names and ids sort the same on both. New steps
 * write 64-bit columns as BIGINT (SQLite reads it as INTEGER, 64-bit too).
 */
#include "store/migrations.h"

#include <stdio.h>

#include "config.h"
#include "store/store-priv.h"
#include "util/log.h"

/* Steps 1-11 on PostgreSQL: nothing; step 12 makes the whole schema. */
#define PG_BEFORE_12 ""

#define T "TEXT COLLATE \"C\""
#define PG_SCHEMA_12                                                                                         \
	"CREATE TABLE meta (key " T " PRIMARY KEY, value " T " NOT NULL);"                                     \
	"CREATE TABLE networks ("                                                                             \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, cidr " T " NOT NULL,"                              \
	"  bridge " T " NOT NULL UNIQUE, nat INTEGER NOT NULL, created_at BIGINT NOT NULL,"                      \
	"  deleted INTEGER NOT NULL DEFAULT 0);"                                                              \
	"CREATE TABLE images ("                                                                               \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, recipe " T " NOT NULL, state " T " NOT NULL,"       \
	"  boot " T " NOT NULL, \"user\" " T " NOT NULL, cmdline " T ", os " T ", error " T ","                  \
	"  size_bytes BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, op_id " T ","                      \
	"  virtual_size_bytes BIGINT NOT NULL DEFAULT 0, source " T ", sha256 " T ","                          \
	"  kernel_source " T ", initrd_source " T ");"                                                        \
	"CREATE TABLE vms ("                                                                                  \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE,"                                                  \
	"  type " T " NOT NULL, vcpus INTEGER NOT NULL, memory_mib INTEGER NOT NULL,"                          \
	"  image " T " NOT NULL, image_id " T " NOT NULL,"                                                     \
	"  ssh_keys " T ", ssh_key_file " T ", user_data " T ", ssh_user " T " NOT NULL,"                        \
	"  power " T " NOT NULL, force_stop INTEGER NOT NULL DEFAULT 0, reboot INTEGER NOT NULL DEFAULT 0,"     \
	"  state " T " NOT NULL, reason " T ", pid INTEGER NOT NULL DEFAULT 0, accel " T ","                    \
	"  created_at BIGINT NOT NULL, started_at BIGINT NOT NULL DEFAULT 0,"                                  \
	"  state_since BIGINT NOT NULL DEFAULT 0, deadline BIGINT NOT NULL DEFAULT 0,"                         \
	"  boot_phases " T ", op_id " T ", disk_size_bytes BIGINT NOT NULL DEFAULT 0,"                          \
	"  generation BIGINT NOT NULL DEFAULT 0, ephemeral_bytes BIGINT NOT NULL DEFAULT 0,"                   \
	"  base_snapshot " T " NOT NULL DEFAULT '', restore_from " T " NOT NULL DEFAULT '',"                    \
	"  no_seed INTEGER NOT NULL DEFAULT 0, rev BIGINT NOT NULL DEFAULT 0);"                               \
	"CREATE INDEX vms_image ON vms (image_id);"                                                           \
	"CREATE TABLE operations ("                                                                           \
	"  id " T " PRIMARY KEY, kind " T " NOT NULL, target " T " NOT NULL, target_name " T " NOT NULL,"       \
	"  state " T " NOT NULL, error " T ", phases " T ", created_at BIGINT NOT NULL,"                        \
	"  finished_at BIGINT NOT NULL DEFAULT 0, progress_done BIGINT NOT NULL DEFAULT 0,"                    \
	"  progress_total BIGINT NOT NULL DEFAULT 0);"                                                        \
	"CREATE INDEX operations_target ON operations (target);"                                              \
	"CREATE TABLE volumes ("                                                                              \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, size_bytes BIGINT NOT NULL, state " T " NOT NULL," \
	"  attach_to " T " NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0,"                           \
	"  attached_vm " T " NOT NULL DEFAULT '', slot INTEGER NOT NULL DEFAULT -1,"                           \
	"  unplugging INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, op_id " T ","                     \
	"  from_snapshot " T " NOT NULL DEFAULT '');"                                                         \
	"CREATE TABLE snapshots ("                                                                            \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, vm_id " T " NOT NULL, vm_name " T " NOT NULL,"      \
	"  image_id " T " NOT NULL, parent " T " NOT NULL DEFAULT '', state " T " NOT NULL,"                    \
	"  virtual_size BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, op_id " T ","                    \
	"  volume_id " T " NOT NULL DEFAULT '');"                                                             \
	"CREATE TABLE nics ("                                                                                 \
	"  vm_id " T " NOT NULL, idx INTEGER NOT NULL, network_id " T " NOT NULL, ip " T " NOT NULL,"           \
	"  mac " T " NOT NULL, PRIMARY KEY (vm_id, idx));"                                                    \
	"CREATE UNIQUE INDEX nics_network_ip ON nics (network_id, ip);"                                       \
	"CREATE UNIQUE INDEX nics_mac ON nics (mac);"                                                         \
	"CREATE TABLE firewalls ("                                                                            \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, description " T " NOT NULL DEFAULT '',"            \
	"  created_at BIGINT NOT NULL);"                                                                      \
	"CREATE TABLE firewall_rules ("                                                                       \
	"  id " T " PRIMARY KEY, firewall_id " T " NOT NULL, proto " T " NOT NULL, port_lo INTEGER NOT NULL,"   \
	"  port_hi INTEGER NOT NULL, from_cidr " T " NOT NULL DEFAULT '',"                                    \
	"  from_firewall_id " T " NOT NULL DEFAULT '', created_at BIGINT NOT NULL);"                           \
	"CREATE INDEX firewall_rules_fw ON firewall_rules (firewall_id);"                                     \
	"CREATE TABLE vm_firewalls ("                                                                         \
	"  vm_id " T " NOT NULL, idx INTEGER NOT NULL, firewall_id " T " NOT NULL,"                            \
	"  PRIMARY KEY (vm_id, firewall_id));"                                                                \
	"CREATE INDEX vm_firewalls_fw ON vm_firewalls (firewall_id);"                                         \
	"CREATE TABLE forwards ("                                                                             \
	"  vm_id " T " NOT NULL, proto " T " NOT NULL, host_port INTEGER NOT NULL, guest_port INTEGER NOT NULL," \
	"  created_at BIGINT NOT NULL, PRIMARY KEY (proto, host_port));"                                      \
	"CREATE TABLE tokens ("                                                                               \
	"  id " T " PRIMARY KEY, name " T " NOT NULL UNIQUE, hash " T " NOT NULL UNIQUE,"                       \
	"  created_at BIGINT NOT NULL, last_used_at BIGINT NOT NULL DEFAULT 0);"                               \
	/* the revision triggers of SQLite's step 12, in PL/pgSQL */                                          \
	"CREATE FUNCTION nubo_vms_rev() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"                         \
	"  IF NEW.rev = OLD.rev THEN NEW.rev := OLD.rev + 1; END IF; RETURN NEW; END $$;"                     \
	"CREATE TRIGGER vms_rev BEFORE UPDATE ON vms FOR EACH ROW EXECUTE FUNCTION nubo_vms_rev();"           \
	"CREATE FUNCTION nubo_child_rev() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"                       \
	"  IF TG_OP = 'DELETE' THEN UPDATE vms SET rev = rev + 1 WHERE id = OLD.vm_id; RETURN OLD; END IF;"    \
	"  UPDATE vms SET rev = rev + 1 WHERE id = NEW.vm_id; RETURN NEW; END $$;"                            \
	"CREATE TRIGGER nics_rev AFTER INSERT OR DELETE ON nics FOR EACH ROW EXECUTE FUNCTION nubo_child_rev();" \
	"CREATE TRIGGER vm_firewalls_rev AFTER INSERT OR DELETE ON vm_firewalls"                              \
	"  FOR EACH ROW EXECUTE FUNCTION nubo_child_rev();"                                                   \
	/* what store_change_count() reads: bumped by every write transaction (driver_pg.c) */               \
	"CREATE TABLE nubo_changes (n BIGINT NOT NULL);"                                                      \
	"INSERT INTO nubo_changes (n) VALUES (0);"

#define STACKS_14(TXT)                                                                                    \
	"CREATE TABLE stacks ("                                                                               \
	"  name " TXT " PRIMARY KEY, serial BIGINT NOT NULL DEFAULT 0, lease " TXT " NOT NULL DEFAULT '',"       \
	"  lease_until BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL, applied_at BIGINT NOT NULL DEFAULT 0);" \
	"CREATE TABLE stack_resources ("                                                                      \
	"  kind " TXT " NOT NULL, name " TXT " NOT NULL, stack " TXT " NOT NULL, id " TXT " NOT NULL DEFAULT '',"  \
	"  spec " TXT " NOT NULL, state " TXT " NOT NULL, PRIMARY KEY (kind, name));"                           \
	"CREATE INDEX stack_resources_stack ON stack_resources (stack);"

/* Load balancers, their listeners and targets. A target's health is its
 * status, written by the checker; the VIP is an address of the network
 * that no NIC may take (store_ip_taken reads both tables). */
#define LBS_15(TXT)                                                                                       \
	"CREATE TABLE load_balancers ("                                                                       \
	"  id " TXT " PRIMARY KEY, name " TXT " NOT NULL UNIQUE, network_id " TXT " NOT NULL,"                   \
	"  network " TXT " NOT NULL, vip " TXT " NOT NULL, algorithm " TXT " NOT NULL,"                          \
	"  check_kind " TXT " NOT NULL, check_path " TXT " NOT NULL DEFAULT '', interval_ms INTEGER NOT NULL,"    \
	"  timeout_ms INTEGER NOT NULL, rise INTEGER NOT NULL, fall INTEGER NOT NULL,"                          \
	"  failing_open INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"                               \
	"CREATE UNIQUE INDEX load_balancers_vip ON load_balancers (network_id, vip);"                           \
	"CREATE TABLE lb_listeners ("                                                                         \
	"  lb_id " TXT " NOT NULL, port INTEGER NOT NULL, target_port INTEGER NOT NULL,"                         \
	"  PRIMARY KEY (lb_id, port));"                                                                       \
	"CREATE TABLE lb_targets ("                                                                           \
	"  id " TXT " PRIMARY KEY, lb_id " TXT " NOT NULL, name " TXT " NOT NULL, vm_id " TXT " NOT NULL,"        \
	"  vm_name " TXT " NOT NULL, port INTEGER NOT NULL DEFAULT 0, health " TXT " NOT NULL,"                  \
	"  health_since BIGINT NOT NULL DEFAULT 0, reason " TXT " NOT NULL DEFAULT '',"                         \
	"  created_at BIGINT NOT NULL);"                                                                      \
	"CREATE UNIQUE INDEX lb_targets_vm ON lb_targets (lb_id, vm_id, port);"                                \
	"CREATE INDEX lb_targets_vm_id ON lb_targets (vm_id);"

#define LBS_26(TXT)                                                                                       \
	"ALTER TABLE load_balancers ADD COLUMN drain_ms INTEGER NOT NULL DEFAULT 30000;"                        \
	"ALTER TABLE load_balancers ADD COLUMN host_port INTEGER NOT NULL DEFAULT 0;"                           \
	"ALTER TABLE lb_targets ADD COLUMN state " TXT " NOT NULL DEFAULT 'active';"                            \
	"ALTER TABLE lb_targets ADD COLUMN drain_until BIGINT NOT NULL DEFAULT 0;"

#define GROUPS_18(TXT)                                                                                    \
	"CREATE TABLE scaling_groups ("                                                                       \
	"  id " TXT " PRIMARY KEY, name " TXT " NOT NULL UNIQUE, image " TXT " NOT NULL, type " TXT " NOT NULL,"  \
	"  network " TXT " NOT NULL, firewalls " TXT " NOT NULL DEFAULT '', ssh_keys " TXT ", ssh_key_file " TXT ","  \
	"  user_data " TXT ", template_gen INTEGER NOT NULL, min_size INTEGER NOT NULL, max_size INTEGER NOT NULL,"  \
	"  desired INTEGER NOT NULL, lb " TXT " NOT NULL DEFAULT '', lb_port INTEGER NOT NULL DEFAULT 0,"          \
	"  target_cpu INTEGER NOT NULL DEFAULT 0, grace_ms BIGINT NOT NULL, warmup_ms BIGINT NOT NULL,"          \
	"  cooldown_ms BIGINT NOT NULL, drain_ms BIGINT NOT NULL, below_since BIGINT NOT NULL DEFAULT 0,"        \
	"  deleted INTEGER NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"                                    \
	"CREATE TABLE group_members ("                                                                        \
	"  id " TXT " PRIMARY KEY, group_id " TXT " NOT NULL, name " TXT " NOT NULL UNIQUE,"                       \
	"  vm_id " TXT " NOT NULL DEFAULT '', template_gen INTEGER NOT NULL, image " TXT " NOT NULL,"             \
	"  state " TXT " NOT NULL, protected INTEGER NOT NULL DEFAULT 0, target_id " TXT " NOT NULL DEFAULT '',"   \
	"  reason " TXT " NOT NULL DEFAULT '', ready_at BIGINT NOT NULL DEFAULT 0,"                              \
	"  until_ms BIGINT NOT NULL DEFAULT 0, created_at BIGINT NOT NULL);"                                    \
	"CREATE INDEX group_members_group ON group_members (group_id);"

#define RESIZE_16(TXT)                                                                                    \
	"ALTER TABLE vms ADD COLUMN max_type " TXT " NOT NULL DEFAULT '';"                                     \
	"ALTER TABLE vms ADD COLUMN max_vcpus INTEGER NOT NULL DEFAULT 0;"                                     \
	"ALTER TABLE vms ADD COLUMN max_memory_mib INTEGER NOT NULL DEFAULT 0;"                                \
	"ALTER TABLE vms ADD COLUMN live_vcpus INTEGER NOT NULL DEFAULT 0;"                                    \
	"ALTER TABLE vms ADD COLUMN live_disk_bytes BIGINT NOT NULL DEFAULT 0;"                                \
	"UPDATE vms SET max_type = type, max_vcpus = vcpus, max_memory_mib = memory_mib, live_vcpus = vcpus,"  \
	"  live_disk_bytes = disk_size_bytes;"

#define USAGE_17(ID, TXT)                                                                                 \
	"CREATE TABLE usage_spans ("                                                                          \
	"  id " ID ", resource_id " TXT " NOT NULL, kind " TXT " NOT NULL, name " TXT " NOT NULL,"               \
	"  type " TXT " NOT NULL DEFAULT '', image " TXT " NOT NULL DEFAULT '', bytes BIGINT NOT NULL DEFAULT 0,"   \
	"  rate_nano BIGINT NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT NOT NULL DEFAULT 0,"           \
	"  seen_at BIGINT NOT NULL DEFAULT 0, run_at BIGINT NOT NULL DEFAULT 0);"                               \
	"CREATE INDEX usage_spans_open ON usage_spans (ended_at, resource_id);"                               \
	"CREATE INDEX usage_spans_resource ON usage_spans (resource_id, started_at);"                         \
	"CREATE INDEX usage_spans_started ON usage_spans (started_at);"

/* Hosts: one row per nubod sharing the store, its capacity and heartbeat;
 * each VM on one host. VMs made before hosts existed have host '' until
 * the first host registers and takes them (store/hosts.c). host_down: why
 * the VM's state is unknown (its host stopped beating), or ''. */
#define HOSTS_19(TXT)                                                                                     \
	"CREATE TABLE hosts ("                                                                                \
	"  id " TXT " PRIMARY KEY, name " TXT " NOT NULL UNIQUE, address " TXT " NOT NULL DEFAULT '',"           \
	"  accel " TXT " NOT NULL DEFAULT '', vcpus INTEGER NOT NULL DEFAULT 0,"                              \
	"  memory_mib INTEGER NOT NULL DEFAULT 0, cpu_overcommit " TXT " NOT NULL DEFAULT '1',"                \
	"  memory_overcommit " TXT " NOT NULL DEFAULT '1', reserved_memory_mib INTEGER NOT NULL DEFAULT 0,"     \
	"  vcpus_allocatable INTEGER NOT NULL DEFAULT 0, memory_mib_allocatable INTEGER NOT NULL DEFAULT 0,"  \
	"  state " TXT " NOT NULL DEFAULT 'up', draining INTEGER NOT NULL DEFAULT 0,"                           \
	"  heartbeat BIGINT NOT NULL DEFAULT 0, started_at BIGINT NOT NULL DEFAULT 0,"                        \
	"  created_at BIGINT NOT NULL, prefix " TXT " NOT NULL DEFAULT '', version " TXT " NOT NULL DEFAULT '');" \
	"ALTER TABLE vms ADD COLUMN host " TXT " NOT NULL DEFAULT '';"                                           \
	"ALTER TABLE vms ADD COLUMN host_down " TXT " NOT NULL DEFAULT '';"                                      \
	"ALTER TABLE volumes ADD COLUMN host " TXT " NOT NULL DEFAULT '';"                                       \
	"ALTER TABLE images ADD COLUMN host " TXT " NOT NULL DEFAULT '';"                                        \
	"ALTER TABLE snapshots ADD COLUMN host " TXT " NOT NULL DEFAULT '';"                                     \
	"CREATE INDEX vms_host ON vms (host);"

/* Many hosts, part two: spread groups (VMs of one group go to different
 * hosts while they can, model/placement.h); the URL other hosts fetch a
 * host's files at; which hosts hold a whole copy of an image, and the
 * image's files with their checksums, for the others to fetch and check
 * (ctl/peer.c). */
#define MOVES_25(TXT)                                                                                     \
	"ALTER TABLE vms ADD COLUMN spread_group " TXT " NOT NULL DEFAULT '';"                                  \
	"CREATE INDEX vms_spread_group ON vms (spread_group);"                                                \
	"ALTER TABLE vms ADD COLUMN move_to " TXT " NOT NULL DEFAULT '';"                                       \
	"ALTER TABLE vms ADD COLUMN move_files " TXT ";"                                                        \
	"ALTER TABLE hosts ADD COLUMN peer_url " TXT " NOT NULL DEFAULT '';"                                    \
	"ALTER TABLE images ADD COLUMN files " TXT ";"                                                          \
	"CREATE TABLE image_copies (image_id " TXT " NOT NULL, host " TXT " NOT NULL,"                           \
	"  PRIMARY KEY (image_id, host));"

/* Metrics: columns named as model/metrics.c's metric_defs say. */
#define METRICS_22(TXT)                                                                                   \
	"CREATE TABLE vm_metrics ("                                                                           \
	"  vm_id " TXT " NOT NULL, step BIGINT NOT NULL, t BIGINT NOT NULL,"                                    \
	"  cpu_milli BIGINT, mem_bytes BIGINT, net_rx_bytes BIGINT, net_tx_bytes BIGINT,"                     \
	"  net_rx_packets BIGINT, net_tx_packets BIGINT, disk_read_bytes BIGINT, disk_write_bytes BIGINT,"    \
	"  disk_read_ops BIGINT, disk_write_ops BIGINT, PRIMARY KEY (vm_id, step, t));"                       \
	"CREATE INDEX vm_metrics_age ON vm_metrics (step, t);"                                                \
	"CREATE TABLE idle_policies ("                                                                        \
	"  vm_id " TXT " PRIMARY KEY, after_ms BIGINT NOT NULL, cpu_milli BIGINT NOT NULL,"                     \
	"  net_bps BIGINT NOT NULL, created_at BIGINT NOT NULL);"

const struct migration store_migrations[] = {
	{1, PG_BEFORE_12, "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
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
	{2, PG_BEFORE_12, "ALTER TABLE vms ADD COLUMN disk_size_bytes INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE vms ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE images ADD COLUMN virtual_size_bytes INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE images ADD COLUMN source TEXT;"
	    "ALTER TABLE images ADD COLUMN sha256 TEXT;"},
	{3, PG_BEFORE_12, "CREATE TABLE volumes ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, size_bytes INTEGER NOT NULL, state TEXT NOT NULL,"
	    "  attach_to TEXT NOT NULL DEFAULT '', deleted INTEGER NOT NULL DEFAULT 0,"
	    "  attached_vm TEXT NOT NULL DEFAULT '', slot INTEGER NOT NULL DEFAULT -1,"
	    "  unplugging INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, op_id TEXT);"},
	{4, PG_BEFORE_12, "ALTER TABLE vms ADD COLUMN ephemeral_bytes INTEGER NOT NULL DEFAULT 0;"},
	{5, PG_BEFORE_12, "ALTER TABLE operations ADD COLUMN progress_done INTEGER NOT NULL DEFAULT 0;"
	    "ALTER TABLE operations ADD COLUMN progress_total INTEGER NOT NULL DEFAULT 0;"},
	{6, PG_BEFORE_12, "CREATE TABLE snapshots ("
	    "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, vm_id TEXT NOT NULL, vm_name TEXT NOT NULL,"
	    "  image_id TEXT NOT NULL, parent TEXT NOT NULL DEFAULT '', state TEXT NOT NULL,"
	    "  virtual_size INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, op_id TEXT);"
	    "ALTER TABLE vms ADD COLUMN base_snapshot TEXT NOT NULL DEFAULT '';"
	    "ALTER TABLE vms ADD COLUMN restore_from TEXT NOT NULL DEFAULT '';"},
	{7, PG_BEFORE_12, "ALTER TABLE snapshots ADD COLUMN volume_id TEXT NOT NULL DEFAULT '';"
	    "ALTER TABLE volumes ADD COLUMN from_snapshot TEXT NOT NULL DEFAULT '';"},
	{8, PG_BEFORE_12, "ALTER TABLE images ADD COLUMN kernel_source TEXT;"
	    "ALTER TABLE images ADD COLUMN initrd_source TEXT;"},
	/* Several NICs per VM; firewalls (security groups) and port forwards. */
	{9, PG_BEFORE_12, "CREATE TABLE nics ("
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
	{10, PG_BEFORE_12, "CREATE TABLE tokens ("
	     "  id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, hash TEXT NOT NULL UNIQUE,"
	     "  created_at INTEGER NOT NULL, last_used_at INTEGER NOT NULL DEFAULT 0);"},
	{11, PG_BEFORE_12, "ALTER TABLE vms ADD COLUMN no_seed INTEGER NOT NULL DEFAULT 0;"},
	/* A revision per VM that changes with anything its JSON shows (its row,
	 * its NICs, its firewalls), for caches of rendered VMs. Triggers, so no
	 * writer can forget it. */
	{12, PG_SCHEMA_12, "ALTER TABLE vms ADD COLUMN rev INTEGER NOT NULL DEFAULT 0;"
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
	/* The event log (store/events.c). Numbers are never used twice, even
	 * once every row is pruned: AUTOINCREMENT on SQLite, an identity on
	 * PostgreSQL. */
	{13,
	 "CREATE TABLE events ("
	 "  seq BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, at BIGINT NOT NULL, kind " T " NOT NULL,"
	 "  resource_id " T " NOT NULL, name " T " NOT NULL, what " T " NOT NULL, detail " T ");"
	 "CREATE INDEX events_at ON events (at);"
	 "CREATE INDEX events_name ON events (name, seq);",
	 "CREATE TABLE events ("
	 "  seq INTEGER PRIMARY KEY AUTOINCREMENT, at BIGINT NOT NULL, kind TEXT NOT NULL,"
	 "  resource_id TEXT NOT NULL, name TEXT NOT NULL, what TEXT NOT NULL, detail TEXT);"
	 "CREATE INDEX events_at ON events (at);"
	 "CREATE INDEX events_name ON events (name, seq);"},
	/* Stacks: which resources each stack owns, with the spec each was last
	 * applied from, and the lease that keeps two applies of one stack apart.
	 * Owned rows are keyed by kind and name, not id: the row is written
	 * before the resource exists (intent first, outcome after), and a name
	 * is unique within its kind anyway. */
	{14, STACKS_14(T), STACKS_14("TEXT")},
	{15, LBS_15(T), LBS_15("TEXT")},
	/* Resize: the ceilings a VM boots with (QEMU's maxcpus), fixed at create;
	 * and what its running QEMU has (vCPUs, root disk size), so a live
	 * resize knows what is left to do. Existing VMs get their own type as
	 * the ceiling: they booted without room to grow. */
	{16, RESIZE_16(T), RESIZE_16("TEXT")},
	/* Usage: one row per stretch of one billable thing at one rate (a VM's
	 * run, a disk of a size), opened and closed in the transaction of the
	 * change that starts or ends it (store/usage.c). ended_at 0: open. */
	{17, USAGE_17("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", T),
	 USAGE_17("INTEGER PRIMARY KEY AUTOINCREMENT", "TEXT")},
	/* Auto-scaling groups and their members. A member is written before its
	 * VM is made, keyed by the VM's name, so a nubod that dies in between
	 * finds the VM (and adopts it) or makes it: never a second one. */
	{18, GROUPS_18(T), GROUPS_18("TEXT")},
	/* Hosts of a cluster (HOSTS_19 above). */
	{19, HOSTS_19(T), HOSTS_19("TEXT")},
	/* The web console's sessions (store/sessions.c): the SHA-256 of the
	 * cookie's secret, never the secret; the token that logged in, so that
	 * revoking it ends its sessions; and when each ends anyway. */
	{20,
	 "CREATE TABLE sessions ("
	 "  id " T " PRIMARY KEY, hash " T " NOT NULL UNIQUE, csrf " T " NOT NULL, token_id " T " NOT NULL,"
	 "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
	 "CREATE INDEX sessions_token ON sessions (token_id);",
	 "CREATE TABLE sessions ("
	 "  id TEXT PRIMARY KEY, hash TEXT NOT NULL UNIQUE, csrf TEXT NOT NULL, token_id TEXT NOT NULL,"
	 "  created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL);"
	 "CREATE INDEX sessions_token ON sessions (token_id);"},
	/* The lease of a group (store_group_lease): the one host whose nubod
	 * acts on it, until when. Not among the group's columns, so nothing
	 * but the lease's own statements writes it. */
	{21,
	 "ALTER TABLE scaling_groups ADD COLUMN lease_host " T " NOT NULL DEFAULT '';"
	 "ALTER TABLE scaling_groups ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;",
	 "ALTER TABLE scaling_groups ADD COLUMN lease_host TEXT NOT NULL DEFAULT '';"
	 "ALTER TABLE scaling_groups ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;"},
	/* Metrics (store/metrics.c): one row per VM, resolution (step, ms) and
	 * interval (t, its start), written by the VM's host every step and
	 * pruned by age; NULL is a figure that could not be read. And the idle
	 * stop policies set per VM. */
	{22, METRICS_22(T), METRICS_22("TEXT")},
	/* Live memory resize: the memory (boot and hot-plugged DIMMs) a
	 * running QEMU was last seen with, as live_vcpus is for vCPUs. */
	{23,
	 "ALTER TABLE vms ADD COLUMN live_memory_mib INTEGER NOT NULL DEFAULT 0;"
	 "UPDATE vms SET live_memory_mib = memory_mib;",
	 "ALTER TABLE vms ADD COLUMN live_memory_mib INTEGER NOT NULL DEFAULT 0;"
	 "UPDATE vms SET live_memory_mib = memory_mib;"},
	/* A network's VXLAN segment id across hosts, given the first time a
	 * host of a cluster brings the network up (store_network_vni_ensure). */
	{24, NULL,
	 "ALTER TABLE networks ADD COLUMN vni INTEGER NOT NULL DEFAULT 0;"
	 "CREATE UNIQUE INDEX networks_vni ON networks (vni) WHERE vni > 0;"},
	/* Spread groups, peer URLs, image copies (MOVES_25 above). */
	{25, MOVES_25(T), MOVES_25("TEXT")},
	/* Load balancers: a removed target drains (its state and deadline are
	 * stored, so a restarted nubod still cuts its connections when due),
	 * for the balancer's drain time; and balancers listening on the host's
	 * own ports. */
	{26, LBS_26(T), LBS_26("TEXT")},
	/* The public-key pin of a host's peer URL (ctl/peer.c). */
	{27, "ALTER TABLE hosts ADD COLUMN peer_pin " T " NOT NULL DEFAULT '';",
	 "ALTER TABLE hosts ADD COLUMN peer_pin TEXT NOT NULL DEFAULT '';"},
	/* A deleted load balancer stays, marked, until each host has cut the
	 * connections made through it (its targets drain with a deadline of
	 * now); a restarted nubod finishes the job from the mark. */
	{28, "ALTER TABLE load_balancers ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;",
	 "ALTER TABLE load_balancers ADD COLUMN deleted INTEGER NOT NULL DEFAULT 0;"},
};

const int store_migrations_count = sizeof(store_migrations) / sizeof(store_migrations[0]);

/* One step in its own write transaction. The version is read again inside
 * it: on SQLite another nubod may have migrated meanwhile (BEGIN IMMEDIATE
 * is the lock there); on PostgreSQL the schema lock already keeps it out. */
static int run_step(struct cx *cx, const struct migration *m, struct err *e)
{
	const struct db_driver *d = cx->st->drv;
	const char *sql = d->dialect == DIALECT_PG && m->pg ? m->pg : m->sql;
	int version = 0;
	if (!*sql)   /* nothing on this engine (PostgreSQL before 12): the step that follows covers it */
		return 0;
	if (d->exec(cx->db, d->begin_write) < 0)
		return cx_fail(cx, e, "beginning a migration");
	int rc = d->schema_version(cx->db, &version) < 0 ? cx_fail(cx, e, "reading the schema version") : 0;
	if (rc == 0 && version >= m->version) {
		d->exec(cx->db, d->rollback);
		return 0;
	}
	if (rc == 0 && d->exec(cx->db, sql) < 0)
		rc = cx_fail(cx, e, "migrating");
	if (rc == 0 && d->schema_version_set(cx->db, m->version) < 0)
		rc = cx_fail(cx, e, "recording the schema version");
	if (rc == 0 && d->exec(cx->db, d->commit_write) < 0)
		rc = cx_fail(cx, e, "committing a migration");
	if (rc < 0) {
		d->exec(cx->db, d->rollback);
		err_prefix(e, "migration %d", m->version);
		return rc;
	}
	log_info("store: schema migrated to version %d", m->version);
	return 0;
}

int migrations_run(struct cx *cx, struct err *e)
{
	const struct db_driver *d = cx->st->drv;
	if (d->schema_lock(cx->db, true) < 0)
		return cx_fail(cx, e, "waiting for the schema lock");
	int version = 0, rc = 0;
	if (d->schema_version(cx->db, &version) < 0)
		rc = cx_fail(cx, e, "reading the schema version");
	int newest = store_migrations[store_migrations_count - 1].version;
	/* A downgrade: an older nubod cannot know what the newer steps mean, and
	 * a migration is never undone, so it must not touch the store at all. */
	if (rc == 0 && version > newest)
		rc = err_set(e, ERR_INTERNAL,
			     "the store's schema is at version %d, newer than this nubod (%s) knows (%d): a newer nubod "
			     "has used it, and nubod cannot be downgraded; run that newer version again",
			     version, NUBO_VERSION, newest);
	for (int i = 0; rc == 0 && i < store_migrations_count; i++)
		if (store_migrations[i].version > version)
			rc = run_step(cx, &store_migrations[i], e);
	d->schema_lock(cx->db, false);
	return rc;
}
