/* grace.c - grace clocks.  See grace.h. */
#include "grace.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <systemd/sd-id128.h>
#include <time.h>

#include "util.h"

void grace_digest(const char *secret_id, const char *key, const char *value,
                  uint8_t digest[GRACE_DIGEST_LEN])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned n = 0;

	/* Each part with its NUL, so ("ab","c") and ("a","bc") differ.  On
	 * allocation failure the digest is all zero: a clock that matches no
	 * tag, which only restarts that tag's clock. */
	memset(digest, 0, GRACE_DIGEST_LEN);
	if (!ctx)
		return;
	if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(ctx, secret_id, strlen(secret_id) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, key, strlen(key) + 1) != 1 ||
	    EVP_DigestUpdate(ctx, value, strlen(value) + 1) != 1 ||
	    EVP_DigestFinal_ex(ctx, digest, &n) != 1)
		memset(digest, 0, GRACE_DIGEST_LEN);
	EVP_MD_CTX_free(ctx);
}

static int clock_cmp(const void *a, const void *b)
{
	return memcmp(((const struct grace_clock *) a)->digest, ((const struct grace_clock *) b)->digest,
	              GRACE_DIGEST_LEN);
}

int grace_clocks_find(const struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN],
                      uint64_t *ret_first_seen)
{
	struct grace_clock key;
	const struct grace_clock *hit;

	if (c->n == 0)
		return -ENOENT;
	memcpy(key.digest, digest, GRACE_DIGEST_LEN);
	hit = bsearch(&key, c->v, c->n, sizeof(*c->v), clock_cmp);
	if (!hit)
		return -ENOENT;
	*ret_first_seen = hit->first_seen_usec;
	return 0;
}

void grace_clocks_drop(struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN])
{
	struct grace_clock key;
	struct grace_clock *hit;

	if (c->n == 0)
		return;
	memcpy(key.digest, digest, GRACE_DIGEST_LEN);
	hit = bsearch(&key, c->v, c->n, sizeof(*c->v), clock_cmp);
	if (!hit)
		return;
	memmove(hit, hit + 1, (size_t) (c->v + c->n - (hit + 1)) * sizeof(*hit));
	c->n--;
}

int grace_clocks_add(struct grace_clocks *c, const uint8_t digest[GRACE_DIGEST_LEN],
                     uint64_t first_seen_usec)
{
	if (c->n == c->cap) {
		size_t ncap = c->cap ? c->cap * 2 : 64;
		struct grace_clock *v = reallocarray(c->v, ncap, sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = ncap;
	}
	memcpy(c->v[c->n].digest, digest, GRACE_DIGEST_LEN);
	c->v[c->n++].first_seen_usec = first_seen_usec;
	return 0;
}

void grace_clocks_sort(struct grace_clocks *c)
{
	size_t out = 0;

	if (c->n > 1)
		qsort(c->v, c->n, sizeof(*c->v), clock_cmp);
	for (size_t i = 0; i < c->n; i++) {
		if (out > 0 && clock_cmp(&c->v[out - 1], &c->v[i]) == 0) {
			/* The later start is the one that cannot advance a deletion. */
			if (c->v[i].first_seen_usec > c->v[out - 1].first_seen_usec)
				c->v[out - 1].first_seen_usec = c->v[i].first_seen_usec;
			continue;
		}
		c->v[out++] = c->v[i];
	}
	c->n = out;
}

void grace_clocks_clear(struct grace_clocks *c)
{
	free(c->v);
	*c = (struct grace_clocks) {};
}

/* --- trusting stored clocks ---------------------------------------------- */

void grace_stamp_now(struct grace_stamp *ret)
{
	struct timespec ts;
	sd_id128_t boot;

	*ret = (struct grace_stamp) { .realtime_usec = now_realtime_usec() };
	if (clock_gettime(CLOCK_BOOTTIME, &ts) == 0)
		ret->boottime_usec = (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
	if (sd_id128_get_boot(&boot) >= 0)
		sd_id128_to_string(boot, ret->boot_id);
}

enum grace_trust grace_trust(const struct grace_stamp *then, const struct grace_stamp *now,
                             uint64_t max_gap, uint64_t *ret_step)
{
	bool same_boot = then->boot_id[0] && strcmp(then->boot_id, now->boot_id) == 0 &&
	                 now->boottime_usec >= then->boottime_usec;
	uint64_t real = now->realtime_usec > then->realtime_usec ? now->realtime_usec - then->realtime_usec : 0;
	uint64_t boot = same_boot ? now->boottime_usec - then->boottime_usec : real;

	*ret_step = 0;
	if (then->realtime_usec == 0)
		return GRACE_KEEP;
	if (boot > max_gap)
		return GRACE_RESTART;
	if (same_boot && real > boot + USEC_PER_SEC) {
		*ret_step = real - boot;
		return GRACE_SHIFT;
	}
	return GRACE_KEEP;
}

void grace_clocks_shift(struct grace_clocks *c, uint64_t step, uint64_t now)
{
	for (size_t i = 0; i < c->n; i++) {
		uint64_t t = c->v[i].first_seen_usec + step;

		c->v[i].first_seen_usec = t < c->v[i].first_seen_usec || t > now ? now : t;
	}
}

uint64_t grace_max_gap(const struct config *c)
{
	uint64_t shortest = c->daemon.grace_usec ? c->daemon.grace_usec : UINT64_MAX;
	uint64_t floor = 2 * c->daemon.interval_usec + c->daemon.pass_timeout_usec;

	for (size_t i = 0; i < c->n_sections; i++)
		if (c->sections[i].has_grace && c->sections[i].grace_usec && c->sections[i].grace_usec < shortest)
			shortest = c->sections[i].grace_usec;
	return shortest > floor ? shortest : floor;
}
