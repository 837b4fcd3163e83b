/* unit.h - which systemd unit runs a configuration, and what monitoring
 * calls it.
 *
 * The package's units: csms-tagd.service reads /etc/csms-tagd/csms-tagd.conf
 * (plus csms-tagd.conf.d/) and keeps its state in /var/lib/csms-tagd;
 * csms-tagd@NAME.service reads /etc/csms-tagd/NAME.conf (plus NAME.conf.d/)
 * and keeps it in /var/lib/csms-tagd-NAME.  These helpers map between the
 * three, so that advice names the unit that really runs, --restore reads
 * that unit's journal, --status --instance finds its state file, and every
 * metric carries a label that tells the instances of a host apart.
 *
 * Pure but for unit_current(), which asks the kernel's cgroup (via
 * sd_pid_get_unit()).  All results are malloc'd; NULL means ENOMEM unless
 * said otherwise.
 */
#ifndef CSMS_UNIT_H
#define CSMS_UNIT_H

#define UNIT_MAIN "csms-tagd.service"
#define UNIT_MAIN_CONFIG SYSCONFDIR "/csms-tagd/csms-tagd.conf"

/* The unit that runs the config at PATH: UNIT_MAIN for a file named
 * csms-tagd.conf, "csms-tagd@NAME.service" for NAME.conf.  NULL also when
 * the file name does not end in ".conf" or NAME is not a unit instance
 * name as written (letters, digits, ":_.-" and "\"). */
char *unit_for_config(const char *path);

/* The csms-tagd service this process runs as (sd_pid_get_unit()); outside
 * one, unit_for_config(CONFIG_PATH); else UNIT_MAIN. */
char *unit_current(const char *config_path);

/* UNIT without its ".service": "csms-tagd", "csms-tagd@prod" -- what
 * "systemctl reload" takes and the metrics' instance label. */
char *unit_short_name(const char *unit);

/* The unit of instance NAME (NULL: the main service). */
char *unit_of_instance(const char *name);

/* The state directory of instance NAME (NULL: the main service), where
 * systemd's StateDirectory= points. */
char *unit_state_directory(const char *name);

/* The state directory of UNIT, one of ours (unit_for_config()). */
char *unit_state_directory_of(const char *unit);

#endif
