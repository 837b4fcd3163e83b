/* fuzz-restore-json.c - restore_read_json() on arbitrary bytes: the input of
 * --restore --from is a journal exported from another host.  Every record it
 * accepts is complete, and an error names the input and its line. */
#include <errno.h>

#include "fuzz-util.h"
#include "restore.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct restore_filter flt = { .since_usec = 0, .until_usec = UINT64_MAX };
	struct restore_set set = {};
	char *error = NULL;
	FILE *f;
	int r;

	if (size == 0)
		return 0;       /* fmemopen() refuses an empty buffer */
	f = fmemopen((void *) data, size, "r");
	CHECK(f);
	r = restore_read_json(f, "fuzz", &flt, &set, &error);
	fclose(f);
	if (r == 0) {
		CHECK(!error);
		for (size_t i = 0; i < set.n; i++) {
			const struct deletion_record *d = &set.items[i];

			CHECK(d->secret_id && d->secret_name && d->key && d->value);
		}
		restore_select(&set);
		for (size_t i = 1; i < set.n; i++) {
			int c = strcmp(set.items[i - 1].secret_id, set.items[i].secret_id);

			CHECK(c < 0 || (c == 0 && strcmp(set.items[i - 1].key, set.items[i].key) < 0));
		}
	} else {
		CHECK(r == -EINVAL || r == -ENOMEM);
		CHECK(!error || strncmp(error, "fuzz:", 5) == 0);
	}
	restore_set_clear(&set);
	free(error);
	return 0;
}
