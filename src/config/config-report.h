/* config-report.h - what --check-config says about a loaded configuration
 * besides its settings: where each part came from, and what would stop the
 * service from reading it.  Views only: they print, never judge. */
#ifndef CSMS_CONFIG_REPORT_H
#define CSMS_CONFIG_REPORT_H

#include <stdio.h>
#include "config.h"

/* The files read (main file, then drop-ins) and, for each governance
 * section and exemption, the FILE:LINE of its header, on F. */
void config_print_sources(const struct config *c, FILE *f);

/* Organisation mode: the explicit targets, each with config_print_target(),
 * then the [discover] settings, on F.  Nothing with one target. */
void config_print_targets(const struct config *c, FILE *f);

/* Target T of organisation-mode C (explicit or discovered): what it is,
 * where it is defined, and the sections (FILE:LINE) and exemptions that
 * apply to it, or "not touched: no governance section applies". */
void config_print_target(const struct config *c, const struct target *t, FILE *f);

/* The units run csms-tagd as a dynamic user (DynamicUser=yes), which is
 * neither the owner nor in the group of any file in /etc: it reads a file
 * only when others may.  For each file of C (and the drop-in directory)
 * that others cannot read, one "csms-tagd: warning: ..." line on F saying
 * so and how to fix it.  Returns how many. */
size_t config_print_access(const struct config *c, FILE *f);

#endif
