/* counts.h - the figures of one pass that monitoring publishes, and the one
 * table that names them.
 *
 * struct pass_counts is embedded by struct pass_result (the pass fills it:
 * pass.c, from the plan and at the finish), the monitor (the last pass,
 * copied whole) and the metrics snapshot (copied whole).  PASS_COUNTS() is the table: each line gives a
 * field of the struct and how each serialiser shows it, and the Prometheus
 * text (metrics.c), the state file's write (metrics.c) and read and the
 * --status print (metrics-state.c) all loop over it.  Adding a figure is
 * one line here plus the place that counts it.
 *
 * A line is X(FIELD, METRIC, LABEL, LABEL_VALUE, HELP, STATUS_LINE,
 * STATUS_TEXT, FLAGS):
 *   FIELD        the member, and the state file's key;
 *   METRIC       the Prometheus gauge (csms_tagd_ prefixed); consecutive
 *                lines with the same METRIC are one family, labelled
 *                LABEL="LABEL_VALUE" (LABEL NULL: no label), whose
 *                HELP is the first line's (the others' is NULL);
 *   STATUS_LINE  the --status line ("Tags     : ...") it is printed on,
 *                as "N STATUS_TEXT", joined by ", " in table order; lines
 *                with the same STATUS_LINE need not be consecutive;
 *   FLAGS        COUNT_WET / COUNT_DRY: printed only when the last pass
 *                was not / was a dry run; COUNT_QUIET: its status line
 *                (given on its first figure) is left out when all its
 *                figures are 0; COUNT_OPTIONAL: older state files may
 *                lack it (read as 0).
 * The order of the lines is the order of every output.
 */
#ifndef CSMS_COUNTS_H
#define CSMS_COUNTS_H

#include <stddef.h>
#include <stdint.h>

enum {
	COUNT_WET = 1 << 0,
	COUNT_DRY = 1 << 1,
	COUNT_QUIET = 1 << 2,
	COUNT_OPTIONAL = 1 << 3,
};

#define PASS_COUNTS(X)                                                                            \
	/* Of the tags planned for deletion: deleted (a dry run: 0, see would_delete), kept        \
	 * (dropped at the re-check: now allowed or unreadable), failed (the deletion failed, or    \
	 * the tag was still there after it), held (not sent: more than max_deletes_per_pass). */   \
	X(planned, "last_pass_tags", "result", "planned",                                          \
	  "Tags of the last pass planned for deletion, by what became of them (would_delete: a dry run's).", \
	  "Tags", "planned", 0)                                                                    \
	X(deleted, "last_pass_tags", "result", "deleted", NULL, "Tags", "deleted", COUNT_WET)       \
	X(would_delete, "last_pass_tags", "result", "would_delete", NULL,                          \
	  "Tags", "would be deleted (dry run: none deleted)", COUNT_DRY | COUNT_OPTIONAL)          \
	X(kept, "last_pass_tags", "result", "kept", NULL, "Tags", "kept", 0)                       \
	X(failed, "last_pass_tags", "result", "failed", NULL, "Tags", "failed", 0)                 \
	X(held, "last_pass_tags", "result", "held", NULL, "Tags", "held", 0)                       \
	X(governed_secrets, "governed_secrets", NULL, NULL,                                        \
	  "Secrets governed by the configuration, last pass.", "Governed", "secrets", 0)           \
	/* planned + waiting + exempted */                                                         \
	X(noncompliant_tags, "noncompliant_tags", NULL, NULL,                                      \
	  "Tags the policy does not allow, last pass.", "Governed", "non-compliant tags", 0)       \
	/* Governance (csms-tagd.conf(5)). */                                                      \
	X(waiting, "last_pass_governance_tags", "kind", "waiting",                                 \
	  "Unwanted tags of the last pass not deleted: grace period running, or kept by an exemption.", \
	  "Not deleted", "waiting for their grace period", COUNT_QUIET)                            \
	X(exempted, "last_pass_governance_tags", "kind", "exempted", NULL,                         \
	  "Not deleted", "exempted", 0)                                                            \
	X(required_missing, "last_pass_required_tags", "state", "missing",                         \
	  "Required tags of the last pass missing, or present with a value not allowed (never created).", \
	  "Required tags", "missing", COUNT_QUIET)                                                 \
	X(required_invalid, "last_pass_required_tags", "state", "invalid", NULL,                   \
	  "Required tags", "with a value not allowed", 0)                                          \
	X(exemptions_unused, "last_pass_unused_exemptions", NULL, NULL,                            \
	  "Active exemptions that kept no tag, last pass.", "Not deleted", "exemptions unused", 0)  \
	X(resolved, "last_pass_resolved_deletions", NULL, NULL,                                    \
	  "Deletions an earlier pass left pending (killed, stopped, reply lost), settled by the last pass.", \
	  "Ledger", "interrupted deletions settled", COUNT_QUIET | COUNT_OPTIONAL)

struct pass_counts {
#define COUNT_FIELD(field, ...) uint64_t field;
	PASS_COUNTS(COUNT_FIELD)
#undef COUNT_FIELD
};

/* One line of the table, for the serialisers' loops. */
struct count_figure {
	const char *key;                /* the field's name: the state file's key */
	size_t offset;                  /* in struct pass_counts */
	const char *metric, *label, *label_value, *help;
	const char *status_line, *status_text;
	unsigned flags;
};

extern const struct count_figure count_figures[];
extern const size_t n_count_figures;

static inline uint64_t count_value(const struct pass_counts *c, const struct count_figure *f)
{
	return *(const uint64_t *) ((const char *) c + f->offset);
}

static inline uint64_t *count_ptr(struct pass_counts *c, const struct count_figure *f)
{
	return (uint64_t *) ((char *) c + f->offset);
}

#endif
