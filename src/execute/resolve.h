/* resolve.h - settle the intents a crash, kill or abort left pending.
 *
 * An intent without an outcome (ledger.h) means a DELETE may or may not
 * have reached the server.  Its secret's tags are read: the key absent is
 * our deletion (LEDGER_DELETED: it is restorable); present, it was not
 * deleted (LEDGER_FAILED); the secret itself gone, it cannot be known
 * (LEDGER_UNKNOWN).  A read that fails leaves the intent pending for the
 * next pass.  Each resolution is one journal record (record_resolved()).
 *
 * Nothing is resolved while the client still has requests in flight
 * (csms_pending()): a cancelled DELETE still on its way would be read as
 * "not deleted" before it lands.
 */
#ifndef CSMS_RESOLVE_H
#define CSMS_RESOLVE_H

#include <stddef.h>
#include "csms.h"
#include "ledger.h"

struct resolve;

/* DONE(RESOLVED, USERDATA): how many intents were settled; called exactly
 * once, possibly from within resolve_start() (nothing pending). */
typedef void (*resolve_done_t)(size_t resolved, void *userdata);

int resolve_start(struct csms *client, struct ledger *ledger, resolve_done_t done, void *userdata,
                  struct resolve **ret);
/* Cancel (reads in flight are dropped; their intents stay pending) and
 * free.  NULL is fine. */
void resolve_free(struct resolve *rs);

#endif
