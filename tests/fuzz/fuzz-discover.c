/* fuzz-discover.c - the discovery decoders (KeystoneListAuthProjects,
 * ListAccounts) on arbitrary bytes: ids safe in a URL path, bounds kept,
 * nothing appended and no marker on error. */
#include <errno.h>

#include "decode.h"
#include "discover.h"
#include "fuzz-util.h"

#define MAX_TOTAL 3

static void fuzz_projects(const uint8_t *data, size_t size)
{
	struct discover_projects p = {};
	char *err = NULL;
	int r;

	r = discover_decode_projects((const char *) data, size, &p, &err);
	if (r == 0) {
		CHECK(!err && p.n <= DISCOVER_MAX_PROJECTS);
		for (size_t i = 0; i < p.n; i++) {
			check_id(p.v[i].id, DECODE_MAX_ID_BYTES);
			CHECK(p.v[i].name);
		}
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(p.n == 0 && !p.v);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(err);
	discover_projects_clear(&p);
}

static void fuzz_accounts(const uint8_t *data, size_t size)
{
	struct discover_accounts a = {};
	char *err = NULL, *marker = NULL;
	int r;

	r = discover_decode_accounts((const char *) data, size, MAX_TOTAL, &a, &marker, &err);
	if (r == 0) {
		CHECK(!err && a.n <= MAX_TOTAL);
		for (size_t i = 0; i < a.n; i++) {
			check_id(a.v[i].id, DECODE_MAX_ID_BYTES);
			CHECK(a.v[i].name);
		}
		CHECK(!marker || marker[0]);
	} else {
		CHECK(r == -EBADMSG || r == -ENOMEM);
		CHECK(a.n == 0 && !marker);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(marker);
	free(err);
	discover_accounts_clear(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_projects(data, size);
	fuzz_accounts(data, size);
	return 0;
}
