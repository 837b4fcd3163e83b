/* retry.c - the retry schedule. */
#include "retry.h"

enum retry_class retry_classify(long status)
{
	if (status == 0)
		return RETRY_BACKOFF;
	if (status == 429)
		return RETRY_THROTTLED;
	if (status == 401)
		return RETRY_AUTH;
	if (status == 500 || status == 502 || status == 503 || status == 504)
		return RETRY_BACKOFF;
	return RETRY_NO;
}

uint64_t retry_delay_usec(unsigned attempt, uint64_t retry_after_usec, double random)
{
	uint64_t cap = RETRY_BASE_USEC;

	if (retry_after_usec > 0)
		return retry_after_usec < 6 * RETRY_MAX_DELAY_USEC ? retry_after_usec
		                                                   : 6 * RETRY_MAX_DELAY_USEC;
	for (unsigned i = 1; i < attempt && cap < RETRY_MAX_DELAY_USEC; i++)
		cap *= 2;
	if (cap > RETRY_MAX_DELAY_USEC)
		cap = RETRY_MAX_DELAY_USEC;
	if (random < 0 || random >= 1)
		random = 0.5;
	/* Full jitter, but never less than a tenth of the cap, so that a
	 * retry storm cannot degenerate into immediate re-sends. */
	return cap / 10 + (uint64_t) ((double) (cap - cap / 10) * random);
}
