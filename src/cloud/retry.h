/* retry.h - when to retry a failed request, and how long to wait.  Pure. */
#ifndef CSMS_RETRY_H
#define CSMS_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#define RETRY_MAX_ATTEMPTS      5
#define RETRY_BASE_USEC         (200 * UINT64_C(1000))    /* first backoff cap */
#define RETRY_MAX_DELAY_USEC    (10 * UINT64_C(1000000))  /* any single wait */

enum retry_class {
	RETRY_NO,               /* final: success or a client error */
	RETRY_BACKOFF,          /* transport error, timeout, 5xx */
	RETRY_THROTTLED,        /* 429 */
	RETRY_AUTH,             /* 401: refresh credentials once */
};

/* Classify an answer: STATUS 0 means no answer (transport error). */
enum retry_class retry_classify(long status);

/* Delay before attempt ATTEMPT+1 (ATTEMPT >= 1 failed attempts so far):
 * full jitter over min(MAX, BASE * 2^(ATTEMPT-1)), using RANDOM in [0,1).
 * A server's Retry-After (when > 0) wins, capped at RETRY_MAX_DELAY_USEC
 * times 6 (a minute). */
uint64_t retry_delay_usec(unsigned attempt, uint64_t retry_after_usec, double random);

#endif
