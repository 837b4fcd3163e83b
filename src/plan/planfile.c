/* planfile.c - write and read reviewed plans (planfile.h). */
#include "planfile.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "jsonget.h"
#include "plan-view.h"
#include "policy.h"
#include "sign.h"
#include "timefmt.h"
#include "util.h"

#define CONFIG_MAX_BYTES (16u * 1024 * 1024)

/* Append drop-in NAME's text to *TEXT, after a line naming it, so that
 * moving a line between files changes the digest too. */
static int append_dropin(char **text, size_t *len, const char *name)
{
	_cleanup_free_ char *more = NULL;
	_cleanup_free_ char *head = xasprintf("\n# drop-in %s\n", name);
	size_t n = 0, head_len = head ? strlen(head) : 0;
	char *t;
	int r;

	if (!head)
		return -ENOMEM;
	r = read_file(name, CONFIG_MAX_BYTES, &more, &n);
	if (r < 0)
		return r;
	t = realloc(*text, *len + head_len + n + 1);
	if (!t)
		return -ENOMEM;
	memcpy(t + *len, head, head_len);
	memcpy(t + *len + head_len, more, n + 1);
	*text = t;
	*len += head_len + n;
	return 0;
}

int config_file_sha256(const char *path, char out[static 65])
{
	_cleanup_free_ char *text = NULL;
	char **dropins = NULL;
	size_t len = 0, n = 0;
	int r = read_file(path, CONFIG_MAX_BYTES, &text, &len);

	if (r >= 0)
		r = config_list_dropins(path, &dropins, &n);
	for (size_t i = 0; i < n; i++) {
		if (r >= 0)
			r = append_dropin(&text, &len, dropins[i]);
		free(dropins[i]);
	}
	free(dropins);
	if (r < 0)
		return r;
	sha256_hex(text, len, out);
	return out[0] ? 0 : -EIO;
}

static json_t *plan_file_json(const struct plan *p, const char *project_id,
                              const char *config_sha256, uint64_t created_usec)
{
	json_t *items = json_array(), *o;
	char created[FORMAT_RFC3339_MAX];

	if (!items || !format_rfc3339_time(created, sizeof(created), created_usec, false)) {
		json_decref(items);
		return NULL;
	}
	for (size_t i = 0; i < p->n; i++) {
		json_t *item = plan_item_to_json(p, &p->items[i], false);

		if (!item || json_array_append_new(items, item) < 0) {
			json_decref(items);
			return NULL;
		}
	}
	o = json_pack("{s:s, s:i, s:s, s:s, s:s, s:s, s:o}", "format", PLANFILE_FORMAT,
	              "version", PLANFILE_VERSION, "project_id", project_id,
	              "config", p->config_path ? p->config_path : "", "config_sha256", config_sha256,
	              "created", created, "items", items);
	return o;
}

int saved_plan_write(const char *path, const struct plan *p, const char *project_id,
                     const char *config_sha256, uint64_t created_usec)
{
	_cleanup_free_ char *json = NULL, *text = NULL;
	json_t *o = plan_file_json(p, project_id, config_sha256, created_usec);

	if (o)
		json = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	text = json ? xasprintf("%s\n", json) : NULL;
	if (!text)
		return -ENOMEM;
	return write_file_atomic(path, text, strlen(text), 0600);
}

/* --- reading -------------------------------------------------------------- */

static int item_cmp(const void *a, const void *b)
{
	const struct saved_item *x = a, *y = b;
	int r = strcmp(x->secret_id, y->secret_id);

	return r ? r : strcmp(x->key, y->key);
}

/* Member NAME of O (at W), a string copied into *RET: "" allowed only
 * when NEED is JGET_PRESENT. */
static int get_string(json_t *o, const struct jget_path *w, const char *name, enum jget_need need,
                      char **ret, char **error)
{
	const char *v;
	int r = jget_string(o, w, name, need, PLANFILE_MAX_BYTES, &v, error);

	if (r < 0)
		return r;
	*ret = strdup(v);
	return *ret ? 0 : -ENOMEM;
}

static bool is_lower_hex(const char *s, size_t n)
{
	if (strlen(s) != n)
		return false;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return false;
	return true;
}

static int parse_item(json_t *o, const struct jget_path *w, struct saved_item *it, char **error)
{
	int r;

	if (!json_is_object(o))
		return jget_bad(error, w, "expected an object");
	if ((r = get_string(o, w, "secret_id", JGET_REQUIRED, &it->secret_id, error)) < 0 ||
	    (r = get_string(o, w, "secret_name", JGET_REQUIRED, &it->secret_name, error)) < 0 ||
	    (r = get_string(o, w, "key", JGET_REQUIRED, &it->key, error)) < 0 ||
	    (r = get_string(o, w, "value", JGET_PRESENT, &it->value, error)) < 0 ||
	    (r = get_string(o, w, "rule", JGET_PRESENT, &it->rule, error)) < 0)
		return r;
	return 0;
}

static int parse_items(json_t *root, struct saved_plan *sp, char **error)
{
	struct jget_path iw = JGET_MEMBER(NULL, "items");
	json_t *items;
	size_t n;
	int r;

	r = jget_array(root, NULL, "items", JGET_REQUIRED, &items, error);
	if (r < 0)
		return r;
	n = json_array_size(items);
	sp->items = calloc(n ? n : 1, sizeof(*sp->items));
	if (!sp->items)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct jget_path ew = JGET_ELEMENT(&iw, i);

		sp->n = i + 1;
		r = parse_item(json_array_get(items, i), &ew, &sp->items[i], error);
		if (r < 0)
			return r;
	}
	qsort(sp->items, sp->n, sizeof(*sp->items), item_cmp);
	for (size_t i = 1; i < sp->n; i++)
		if (item_cmp(&sp->items[i - 1], &sp->items[i]) == 0)
			return jget_bad(error, &iw, "key '%s' of secret %s is listed twice",
			                sp->items[i].key, sp->items[i].secret_id);
	return 0;
}

static int parse_root(json_t *root, struct saved_plan *sp, char **error)
{
	_cleanup_free_ char *digest = NULL, *created = NULL;
	json_t *format = json_object_get(root, "format"), *version = json_object_get(root, "version");
	int r;

	if (!json_is_string(format) || strcmp(json_string_value(format), PLANFILE_FORMAT) != 0)
		return jget_bad(error, NULL, "\"format\" is not \"%s\": not a csms-tagd plan file",
		                PLANFILE_FORMAT);
	if (!json_is_integer(version) || json_integer_value(version) != PLANFILE_VERSION)
		return jget_bad(error, NULL, "\"version\" must be %d (this csms-tagd reads no other)",
		                PLANFILE_VERSION);
	if ((r = get_string(root, NULL, "project_id", JGET_REQUIRED, &sp->project_id, error)) < 0 ||
	    (r = get_string(root, NULL, "config", JGET_PRESENT, &sp->config_path, error)) < 0 ||
	    (r = get_string(root, NULL, "config_sha256", JGET_REQUIRED, &digest, error)) < 0 ||
	    (r = get_string(root, NULL, "created", JGET_REQUIRED, &created, error)) < 0)
		return r;
	if (!is_lower_hex(digest, 64))
		return jget_bad(error, NULL, "\"config_sha256\" must be 64 lower-case hex digits");
	memcpy(sp->config_sha256, digest, 65);
	if (parse_rfc3339_time(created, &sp->created_usec) < 0)
		return jget_bad(error, NULL, "\"created\" must be a UTC time YYYY-MM-DDTHH:MM:SSZ");
	return parse_items(root, sp, error);
}

int saved_plan_parse(const char *text, size_t len, struct saved_plan *ret, char **error)
{
	struct saved_plan sp = {};
	json_t *root;
	int r;

	if (error)
		*error = NULL;
	r = jget_load_object(text, len, true, &root, error);
	if (r < 0)
		return r;
	r = parse_root(root, &sp, error);
	json_decref(root);
	if (r < 0) {
		saved_plan_clear(&sp);
		return r;
	}
	*ret = sp;
	return 0;
}

int saved_plan_load(const char *path, struct saved_plan *ret, char **error)
{
	_cleanup_free_ char *text = NULL, *e = NULL;
	size_t len = 0;
	int r = read_file(path, PLANFILE_MAX_BYTES, &text, &len);

	if (r < 0) {
		if (error)
			*error = xasprintf("%s: %s", path, strerror(-r));
		return r;
	}
	r = saved_plan_parse(text, len, ret, &e);
	if (r < 0 && error)
		*error = xasprintf("%s: %s", path, e ? e : strerror(-r));
	return r;
}

int saved_plan_check(const struct saved_plan *sp, const char *project_id, uint64_t now_usec,
                     uint64_t max_age_usec, char **error)
{
	char age[64], max[64];

	if (strcmp(sp->project_id, project_id) != 0) {
		fail_message(error, "the plan is for project %s, the configuration for project %s",
		             sp->project_id, project_id);
		return -EXDEV;
	}
	if (sp->created_usec > now_usec + PLANFILE_MAX_FUTURE_USEC) {
		fail_message(error, "the plan is dated in the future (check the clock)");
		return -EINVAL;
	}
	if (now_usec > sp->created_usec && now_usec - sp->created_usec > max_age_usec) {
		fail_message(error, "the plan is %s old, more than the %s allowed (--max-plan-age)",
		             format_timespan(age, sizeof(age), now_usec - sp->created_usec),
		             format_timespan(max, sizeof(max), max_age_usec));
		return -ESTALE;
	}
	return 0;
}

const struct saved_item *saved_plan_find(const struct saved_plan *sp, const char *secret_id,
                                         const char *key)
{
	struct saved_item k = { .secret_id = (char *) secret_id, .key = (char *) key };

	if (sp->n == 0)
		return NULL;
	return bsearch(&k, sp->items, sp->n, sizeof(*sp->items), item_cmp);
}

void saved_plan_clear(struct saved_plan *sp)
{
	for (size_t i = 0; i < sp->n; i++) {
		free(sp->items[i].secret_id);
		free(sp->items[i].secret_name);
		free(sp->items[i].key);
		free(sp->items[i].value);
		free(sp->items[i].rule);
	}
	free(sp->items);
	free(sp->project_id);
	free(sp->config_path);
	memset(sp, 0, sizeof(*sp));
}
