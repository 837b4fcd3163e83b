/* event-loop.h - one sd_event loop per test, for the tests of the modules
 * that run on it (http, auth).  Include once, after cmocka. */
#ifndef CSMS_TEST_EVENT_LOOP_H
#define CSMS_TEST_EVENT_LOOP_H

#include <systemd/sd-event.h>
#include "util.h"

static sd_event *event;

static int loop_setup(void **state)
{
	assert_int_equal(sd_event_new(&event), 0);
	return 0;
}

static int loop_teardown(void **state)
{
	event = sd_event_unref(event);
	return 0;
}

/* Turn the loop for USEC, whatever happens. */
static inline void run_for(uint64_t usec)
{
	uint64_t end = now_monotonic_usec() + usec;

	while (now_monotonic_usec() < end)
		assert_true(sd_event_run(event, 20 * USEC_PER_MSEC) >= 0);
}

#endif
