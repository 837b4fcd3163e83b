/* pass-id.c - a pass identifier unique across restarts and reboots. */
#include "pass-id.h"

#include <inttypes.h>
#include <stdio.h>
#include <systemd/sd-id128.h>

int pass_id_base(const char *invocation, pid_t pid, char base[static PASS_ID_MAX])
{
	sd_id128_t id;
	int r;

	/* $INVOCATION_ID is checked (32 hex digits) like any input. */
	if (invocation && sd_id128_from_string(invocation, &id) >= 0 && !sd_id128_is_null(id)) {
		sd_id128_to_string(id, base);
		return 0;
	}
	if (sd_id128_get_invocation(&id) >= 0 && !sd_id128_is_null(id)) {
		sd_id128_to_string(id, base);
		return 0;
	}
	r = sd_id128_get_boot(&id);
	if (r < 0)
		return r;
	snprintf(base, PASS_ID_MAX, SD_ID128_FORMAT_STR "-p%ld", SD_ID128_FORMAT_VAL(id), (long) pid);
	return 0;
}

const char *pass_id_format(char buf[static PASS_ID_MAX], const char *base, uint64_t counter)
{
	snprintf(buf, PASS_ID_MAX, "%s-%" PRIu64, base, counter);
	return buf;
}
