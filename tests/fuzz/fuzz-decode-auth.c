/* fuzz-decode-auth.c - the credential decoders (IAM token answer, ECS
 * metadata securitykey / IAM v3.0 securitytokens, STS v5 AssumeAgency) and
 * parse_rfc3339_time() on arbitrary bytes. */
#include <errno.h>
#include <time.h>

#include "decode.h"
#include "timefmt.h"
#include "fuzz-util.h"

static void check_credential(const char *s)
{
	CHECK(s && *s);
	for (const unsigned char *p = (const unsigned char *) s; *p; p++)
		CHECK(*p > ' ' && *p < 0x7f);
}

/* An accepted time prints back to the same calendar fields. */
static void check_iso8601(const char *s)
{
	uint64_t usec = UINT64_MAX;
	char back[32];
	struct tm tm;
	time_t t;

	if (parse_rfc3339_time(s, &usec) < 0) {
		CHECK(usec == UINT64_MAX);
		return;
	}
	t = (time_t) (usec / 1000000);
	CHECK(gmtime_r(&t, &tm));
	CHECK(strftime(back, sizeof(back), "%Y-%m-%dT%H:%M:%S", &tm) == 19);
	CHECK(strncmp(s, back, 19) == 0);
}

typedef int (*temporary_decoder_t)(const char *body, size_t len, char **ak, char **sk,
                                   char **token, uint64_t *expires_at_usec, char **error);

/* Temporary keys: all three printable, or nothing and a loggable error;
 * the secret key never in a message. */
static void check_temporary(temporary_decoder_t decode, const uint8_t *data, size_t size)
{
	char *ak = NULL, *sk = NULL, *token = NULL, *err = NULL;
	uint64_t exp = 0;
	int r;

	r = decode((const char *) data, size, &ak, &sk, &token, &exp, &err);
	CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	if (r == 0) {
		check_credential(ak);
		check_credential(sk);
		check_credential(token);
		CHECK(!err);
	} else {
		CHECK(!ak && !sk && !token);
		if (r == -EBADMSG)
			check_loggable(err);
	}
	free(ak);
	free(sk);
	free(token);
	free(err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *err = NULL, *text;
	uint64_t exp = 0;
	int r;

	r = decode_iam_token((const char *) data, size, &exp, &err);
	CHECK(r == 0 || r == -EBADMSG || r == -ENOMEM);
	CHECK((r == -EBADMSG) == (err != NULL));
	if (err)
		check_loggable(err);
	free(err);
	err = NULL;

	check_temporary(decode_securitykey, data, size);
	check_temporary(decode_assume_agency, data, size);

	text = fuzz_strdup(data, size);
	check_iso8601(text);
	free(text);
	return 0;
}
