/* planfile.h - reviewed plans: a dry run's plan saved to a file, and read
 * back for --apply-plan.
 *
 * The file is JSON (csms-tagd(8), "REVIEWED PLANS"):
 *   {"format": "csms-tagd-plan", "version": 1, "project_id": "...",
 *    "config": "PATH", "config_sha256": "64 hex digits",
 *    "created": "YYYY-MM-DDTHH:MM:SSZ",
 *    "items": [{"secret_id", "secret_name", "key", "value", "reason", "rule"}]}
 * "value" is the value as observed; "rule" is FILE:LINE.  It is written
 * atomically (a temporary file in the same directory, renamed over PATH)
 * with mode 0600: tag values may be confidential.
 *
 * A saved plan only ever narrows what a pass deletes: --apply-plan
 * intersects the fresh plan with the saved items (pass.h).  So the fields
 * that matter for safety are checked strictly (format, version, project,
 * age, one item per secret and key), while a config digest that differs
 * from the current configuration's is only reported: every item is judged
 * by the current configuration again anyway.
 */
#ifndef CSMS_PLANFILE_H
#define CSMS_PLANFILE_H

#include <stddef.h>
#include <stdint.h>
#include "plan.h"

#define PLANFILE_FORMAT  "csms-tagd-plan"
#define PLANFILE_VERSION 1
#define PLANFILE_MAX_BYTES (64u * 1024 * 1024)
/* A plan dated this far in the future is refused (clock trouble). */
#define PLANFILE_MAX_FUTURE_USEC (5 * 60 * USEC_PER_SEC)

struct saved_item {
	char *secret_id;
	char *secret_name;
	char *key;
	char *value;            /* as observed when the plan was made */
	char *rule;             /* "FILE:LINE", informational */
};

struct saved_plan {
	char *project_id;
	char *config_path;
	char config_sha256[65];
	uint64_t created_usec;  /* CLOCK_REALTIME */
	struct saved_item *items;       /* sorted by secret id, then key */
	size_t n;
};

/* Lower-case hex SHA-256 of the configuration at PATH into OUT: the bytes
 * of the file, followed by those of each of its drop-ins (config.h), each
 * after a line naming it; for a file without drop-ins, its bytes alone. */
int config_file_sha256(const char *path, char out[static 65]);

/* Write plan P atomically to PATH (mode 0600).  Returns 0 or a negative
 * errno; the file is never left half-written. */
int saved_plan_write(const char *path, const struct plan *p, const char *project_id,
                     const char *config_sha256, uint64_t created_usec);

/* Parse a plan file's TEXT.  On failure returns -EBADMSG (or -ENOMEM) and a
 * message naming the field in *error (malloc'd; may be NULL on ENOMEM), as
 * every reader of JSON does (jsonget.h). */
int saved_plan_parse(const char *text, size_t len, struct saved_plan *ret, char **error);
/* Read and parse the file at PATH; messages start with PATH. */
int saved_plan_load(const char *path, struct saved_plan *ret, char **error);

/* Whether the plan may be applied to PROJECT_ID at NOW (CLOCK_REALTIME):
 * -EXDEV for another project, -ESTALE when older than MAX_AGE_USEC, -EINVAL
 * when dated in the future; *error then says so. */
int saved_plan_check(const struct saved_plan *sp, const char *project_id, uint64_t now_usec,
                     uint64_t max_age_usec, char **error);

/* The saved item for SECRET_ID and KEY, or NULL. */
const struct saved_item *saved_plan_find(const struct saved_plan *sp, const char *secret_id,
                                         const char *key);

void saved_plan_clear(struct saved_plan *sp);

#endif
