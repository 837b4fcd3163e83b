/* observe.c - read a project's secrets and their tags from CSMS. */
#include "observe.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

/* Callback context of one ListSecretTags. */
struct tags_ref {
	struct observe *ob;
	size_t index;
};

struct observe {
	struct csms *client;
	enum observe_mode how;
	unsigned window;
	unsigned pass;
	observe_done_t done;
	void *userdata;

	bool via_list;
	bool failed;            /* the listing is incomplete */
	unsigned outstanding;   /* calls of the current phase */

	/* ListResourceInstances */
	int64_t ri_total;       /* -1 until the first page */
	size_t ri_page;         /* entries per page, as the server gives them */
	size_t ri_next;         /* offset of the next page to ask for */

	/* ListSecrets */
	char **markers;         /* every marker followed so far */
	size_t n_markers;

	/* ListSecretTags */
	struct tags_ref *refs;
	size_t tags_next;

	struct observe_result res;
};

#define set_failure(ob, ...) set_first_reason((ob)->res.failure, sizeof((ob)->res.failure), __VA_ARGS__)

static void note_failure(struct observe *ob, const char *what, const struct csms_result *r)
{
	char buf[200];

	if (r->throttled)
		ob->res.throttled = true;
	if (r->status == 401)
		ob->res.auth_refused = true;
	if (r->r == -EBADMSG)
		log_warning("Pass %u: unreadable %s answer (request %s): %s", ob->pass, what,
		            r->request_id ? r->request_id : "-", r->message ? r->message : "?");
	set_failure(ob, "%s: %s", what, csms_result_describe(r, buf, sizeof(buf)));
}

static void finish(struct observe *ob)
{
	ob->res.complete = !ob->failed;
	ob->res.observed_by = ob->via_list ? "ListSecrets" : "ListResourceInstances";
	/* Last action: DONE may free OB. */
	ob->done(&ob->res, ob->userdata);
}

/* The listing cannot be complete: stop asking, drop what is outstanding. */
static void listing_failed(struct observe *ob)
{
	ob->failed = true;
	csms_cancel(ob->client, ob);
	ob->outstanding = 0;
}

static int compare_secret_id(const void *a, const void *b)
{
	const struct secret *x = a, *y = b;

	return strcmp(x->id, y->id);
}

/* Sort by id and drop repeated ids (a list that moved while it was paged).
 * Returns how many were dropped. */
static size_t drop_duplicate_ids(struct observation *o)
{
	size_t w = 0, dropped = 0;

	if (o->n < 2)
		return 0;
	qsort(o->secrets, o->n, sizeof(o->secrets[0]), compare_secret_id);
	for (size_t i = 0; i < o->n; i++) {
		if (w > 0 && strcmp(o->secrets[w - 1].id, o->secrets[i].id) == 0) {
			secret_clear(&o->secrets[i]);
			dropped++;
			continue;
		}
		if (w != i)
			o->secrets[w] = o->secrets[i];
		w++;
	}
	o->n = w;
	return dropped;
}

static void take_page(struct observe *ob, const struct csms_result *r)
{
	if (observation_move(&ob->res.obs, r->secrets) < 0) {
		set_failure(ob, "out of memory");
		listing_failed(ob);
	}
}

static void list_start(struct observe *ob);

/* --- ListResourceInstances ------------------------------------------------ */

static void on_ri_page(const struct csms_result *r, void *userdata);

static void ri_fill_window(struct observe *ob)
{
	while (!ob->failed && ob->outstanding < ob->window && (int64_t) ob->ri_next < ob->ri_total) {
		ob->outstanding++;
		csms_list_resource_instances(ob->client, ob, (unsigned) ob->ri_next,
		                             OBSERVE_RI_PAGE_LIMIT, on_ri_page, ob);
		ob->ri_next += ob->ri_page;
	}
}

static void ri_inconsistent(struct observe *ob, const char *why)
{
	log_warning("Pass %u: ListResourceInstances is inconsistent: %s (total_count %" PRId64
	            ", %zu secrets read)", ob->pass, why, ob->ri_total, ob->res.obs.n);
	set_failure(ob, "ListResourceInstances inconsistent: %s", why);
	listing_failed(ob);
}

static void ri_finished(struct observe *ob)
{
	if (!ob->failed) {
		size_t dups = drop_duplicate_ids(&ob->res.obs);

		if (dups)
			ri_inconsistent(ob, "repeated secret ids");
		else if ((uint64_t) ob->ri_total != ob->res.obs.n)
			ri_inconsistent(ob, "fewer or more secrets than total_count");
	}
	/* Fall back to the per-secret APIs, starting from nothing: a partial
	 * first observation must not be mixed into the second. */
	if (ob->failed && ob->how == OBSERVE_AUTO && !ob->res.throttled && !ob->res.auth_refused) {
		log_notice("Pass %u: falling back to ListSecrets + ListSecretTags", ob->pass);
		observation_clear(&ob->res.obs);
		ob->res.failure[0] = '\0';
		ob->failed = false;
		list_start(ob);
		return;
	}
	finish(ob);
}

static void on_ri_page(const struct csms_result *r, void *userdata)
{
	struct observe *ob = userdata;

	ob->outstanding--;
	if (r->r < 0) {
		note_failure(ob, "ListResourceInstances", r);
		listing_failed(ob);
	} else if (ob->ri_total < 0) {
		/* The first page: it says how many follow.  The server may cap
		 * the page below what we asked for: page by what it returned. */
		ob->ri_total = r->total_count;
		ob->ri_page = r->secrets->n;
		ob->ri_next = ob->ri_page;
		if (r->total_count < 0 || r->total_count > OBSERVE_MAX_SECRETS)
			ri_inconsistent(ob, "total_count out of range");
		else if (r->total_count > 0 &&
		         (ob->ri_page == 0 || (uint64_t) r->total_count / ob->ri_page >= OBSERVE_MAX_PAGES))
			ri_inconsistent(ob, "pages too small for total_count");
		else
			take_page(ob, r);
	} else if (r->total_count != ob->ri_total)
		ri_inconsistent(ob, "total_count changed during the pass");
	else if (r->secrets->n == 0)
		ri_inconsistent(ob, "an empty page before the end");
	else
		take_page(ob, r);
	ri_fill_window(ob);
	if (ob->outstanding == 0)
		ri_finished(ob);
}

static void ri_start(struct observe *ob)
{
	ob->via_list = false;
	ob->ri_total = -1;
	ob->outstanding = 1;
	csms_list_resource_instances(ob->client, ob, 0, OBSERVE_RI_PAGE_LIMIT, on_ri_page, ob);
}

/* --- ListSecretTags ------------------------------------------------------- */

static void on_secret_tags(const struct csms_result *r, void *userdata);

static void tags_fill_window(struct observe *ob)
{
	while (ob->outstanding < ob->window && ob->tags_next < ob->res.obs.n) {
		size_t i = ob->tags_next++;

		ob->outstanding++;
		csms_list_secret_tags(ob->client, ob, ob->res.obs.secrets[i].id, on_secret_tags,
		                      &ob->refs[i]);
	}
}

static void on_secret_tags(const struct csms_result *r, void *userdata)
{
	struct tags_ref *ref = userdata;
	struct observe *ob = ref->ob;
	struct secret *s = &ob->res.obs.secrets[ref->index];

	ob->outstanding--;
	if (r->r < 0) {
		/* Not read completely: skipped, never treated as untagged. */
		s->tags_complete = false;
		note_failure(ob, "ListSecretTags", r);
	} else {
		tag_list_clear(&s->tags);
		tag_list_clear(&s->sys_tags);
		s->tags = *r->tags;
		s->sys_tags = *r->sys_tags;
		*r->tags = (struct tag_list) {};
		*r->sys_tags = (struct tag_list) {};
		s->tags_complete = true;
	}
	tags_fill_window(ob);
	if (ob->outstanding == 0)
		finish(ob);
}

static void tags_start(struct observe *ob)
{
	struct observation *o = &ob->res.obs;

	(void) drop_duplicate_ids(o);
	if (o->n == 0) {
		finish(ob);
		return;
	}
	ob->refs = reallocarray(NULL, o->n, sizeof(*ob->refs));
	if (!ob->refs) {
		set_failure(ob, "out of memory");
		ob->failed = true;
		finish(ob);
		return;
	}
	for (size_t i = 0; i < o->n; i++)
		ob->refs[i] = (struct tags_ref) { ob, i };
	ob->tags_next = 0;
	tags_fill_window(ob);
}

/* --- ListSecrets ---------------------------------------------------------- */

static void on_list_page(const struct csms_result *r, void *userdata);

static void list_request(struct observe *ob)
{
	ob->outstanding = 1;
	csms_list_secrets(ob->client, ob, ob->n_markers ? ob->markers[ob->n_markers - 1] : NULL,
	                  OBSERVE_LIST_PAGE_LIMIT, on_list_page, ob);
}

static bool marker_seen(const struct observe *ob, const char *marker)
{
	for (size_t i = 0; i < ob->n_markers; i++)
		if (strcmp(ob->markers[i], marker) == 0)
			return true;
	return false;
}

static void on_list_page(const struct csms_result *r, void *userdata)
{
	struct observe *ob = userdata;
	bool empty = r->r == 0 && r->secrets->n == 0;
	char **markers, *m;

	ob->outstanding--;
	if (r->r < 0) {
		note_failure(ob, "ListSecrets", r);
		listing_failed(ob);
		finish(ob);
		return;
	}
	take_page(ob, r);
	if (ob->failed) {
		finish(ob);
		return;
	}
	/* No next marker, or an empty page (the end as csms-api.md 2.1 and
	 * other clients see it, whatever marker it carries). */
	if (!r->next_marker || empty) {
		tags_start(ob);
		return;
	}
	/* Follow the server's marker whatever its order; a marker that comes
	 * back would page for ever, and stopping there would hide secrets. */
	if (marker_seen(ob, r->next_marker) || ob->n_markers + 1 >= OBSERVE_MAX_PAGES) {
		log_warning("Pass %u: ListSecrets paging %s after %zu pages: the listing is incomplete",
		            ob->pass, ob->n_markers + 1 >= OBSERVE_MAX_PAGES ? "hit the page cap" :
		            "returned a marker a second time", ob->n_markers + 1);
		set_failure(ob, "ListSecrets paging loops (marker repeated or page cap): listing incomplete");
		listing_failed(ob);
		finish(ob);
		return;
	}
	markers = reallocarray(ob->markers, ob->n_markers + 1, sizeof(*markers));
	m = markers ? strdup(r->next_marker) : NULL;
	if (markers)
		ob->markers = markers;
	if (!m) {
		set_failure(ob, "out of memory");
		listing_failed(ob);
		finish(ob);
		return;
	}
	ob->markers[ob->n_markers++] = m;
	list_request(ob);
}

static void list_start(struct observe *ob)
{
	ob->via_list = true;
	list_request(ob);
}

/* --- life cycle ----------------------------------------------------------- */

int observe_start(struct csms *client, enum observe_mode how, unsigned window, unsigned pass,
                  observe_done_t done, void *userdata, struct observe **ret)
{
	struct observe *ob = calloc(1, sizeof(*ob));

	if (!ob)
		return -ENOMEM;
	ob->client = client;
	ob->how = how;
	ob->window = window ? window : 1;
	ob->pass = pass;
	ob->done = done;
	ob->userdata = userdata;
	*ret = ob;
	if (how == OBSERVE_LIST_SECRETS)
		list_start(ob);
	else
		ri_start(ob);
	return 0;
}

void observe_free(struct observe *ob)
{
	if (!ob)
		return;
	csms_cancel(ob->client, ob);
	observation_clear(&ob->res.obs);
	for (size_t i = 0; i < ob->n_markers; i++)
		free(ob->markers[i]);
	free(ob->markers);
	free(ob->refs);
	free(ob);
}
