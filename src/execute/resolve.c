/* resolve.c - settle pending intents by reading their secrets.  See
 * resolve.h. */
#include "resolve.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "records.h"
#include "util.h"

struct resolve_ref {
	struct resolve *rs;
	size_t index;
};

struct resolve {
	struct csms *client;
	struct ledger *ledger;
	resolve_done_t done;
	void *userdata;
	struct ledger_list pending;
	struct resolve_ref *refs;
	size_t outstanding, resolved;
};

static void settle(struct resolve *rs, const struct ledger_deletion *d, enum ledger_outcome o,
                   const char *how)
{
	int r = ledger_resolve(rs->ledger, d->id, o, now_realtime_usec());

	if (r == -EALREADY)
		return;         /* its own pass recorded it meanwhile */
	if (r < 0) {
		log_error("Cannot record the resolved outcome of ledger entry %lld in %s: %s",
		          (long long) d->id, ledger_path(rs->ledger), strerror(-r));
		return;
	}
	rs->resolved++;
	record_resolved(d, o, how);
}

static void on_tags(const struct csms_result *r, void *userdata)
{
	struct resolve_ref *ref = userdata;
	struct resolve *rs = ref->rs;
	const struct ledger_deletion *d = &rs->pending.v[ref->index];
	char why[200];

	rs->outstanding--;
	if (r->r == 0 && !tag_list_find(r->tags, d->key))
		settle(rs, d, LEDGER_DELETED, "the tag is absent: our DELETE reached the server");
	else if (r->r == 0)
		settle(rs, d, LEDGER_FAILED, "the tag is present: it was not deleted");
	else if (csms_result_is_gone(r))
		settle(rs, d, LEDGER_UNKNOWN, "the secret itself is gone");
	else
		log_warning("Cannot resolve the interrupted deletion of tag %s from secret %s (%s); "
		            "it stays pending", d->key, d->secret_name,
		            csms_result_describe(r, why, sizeof(why)));
	if (rs->outstanding == 0)
		rs->done(rs->resolved, rs->userdata);
}

int resolve_start(struct csms *client, struct ledger *ledger, resolve_done_t done, void *userdata,
                  struct resolve **ret)
{
	struct resolve *rs = calloc(1, sizeof(*rs));
	int r;

	if (!rs)
		return -ENOMEM;
	*rs = (struct resolve) { .client = client, .ledger = ledger, .done = done, .userdata = userdata };
	*ret = rs;
	r = csms_pending(client) > 0 ? 0 : ledger_pending(ledger, &rs->pending);
	if (r < 0) {
		log_warning("Cannot read the pending intents of %s: %s", ledger_path(ledger),
		            ledger_error(ledger)[0] ? ledger_error(ledger) : strerror(-r));
		ledger_list_clear(&rs->pending);
	}
	if (rs->pending.n && !(rs->refs = calloc(rs->pending.n, sizeof(*rs->refs))))
		ledger_list_clear(&rs->pending);
	if (rs->pending.n)
		log_notice("Resolving %zu interrupted deletions recorded in %s", rs->pending.n,
		           ledger_path(ledger));
	rs->outstanding = rs->pending.n;
	for (size_t i = 0; i < rs->pending.n; i++) {
		rs->refs[i] = (struct resolve_ref) { rs, i };
		csms_list_secret_tags(client, rs, rs->pending.v[i].secret_id, on_tags, &rs->refs[i]);
	}
	if (rs->pending.n == 0)
		done(0, userdata);
	return 0;
}

void resolve_free(struct resolve *rs)
{
	if (!rs)
		return;
	csms_cancel(rs->client, rs);
	ledger_list_clear(&rs->pending);
	free(rs->refs);
	free(rs);
}
