/* csms-errors.c - what a failed CSMS call means: gone or not, its text,
 * its error class.  Pure rules on a struct csms_result, shared by every
 * client (csms_ops), the real one and a test's fake alike. */
#include "csms.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

bool csms_result_is_gone(const struct csms_result *res)
{
	if (res->r == 0 || !res->error_code)
		return false;
	/* Gateway codes (APIGW.0101 "API not found") mean a wrong URL, not a
	 * missing tag: only CSMS's own "does not exist" codes count. */
	return (res->status == 400 || res->status == 404) &&
	       (strcmp(res->error_code, "CSMS.0005") == 0 || strcmp(res->error_code, "CSMS.0106") == 0);
}

const char *csms_result_describe(const struct csms_result *res, char *buf, size_t size)
{
	if (res->r == 0)
		snprintf(buf, size, "HTTP %ld", res->status);
	else if (res->status == 0)
		snprintf(buf, size, "%s", res->message ? res->message : strerror(-res->r));
	else if (res->status == 429)
		snprintf(buf, size, "429 throttled%s%s", res->error_code ? " " : "",
		         res->error_code ? res->error_code : "");
	else
		snprintf(buf, size, "HTTP %ld%s%s%s%s", res->status,
		         res->error_code ? " " : "", res->error_code ? res->error_code : "",
		         res->message ? ": " : "", res->message ? res->message : "");
	return buf;
}

const char *csms_result_error_class(const struct csms_result *res, char *buf, size_t size)
{
	if (res->r == 0)
		return NULL;
	if (res->error_code && *res->error_code)
		return res->error_code;
	if (res->status >= 200 && res->status <= 299)
		return "invalid-answer";
	if (res->status) {
		snprintf(buf, size, "http-%ld", res->status);
		return buf;
	}
	return res->r == -EIO ? "transport" : "no-request";
}
