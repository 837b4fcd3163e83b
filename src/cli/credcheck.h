/* credcheck.h - csms-tagd --check-credentials: do the credentials work?
 *
 * Makes them usable (token or temporary keys fetched as the daemon would),
 * then sends one authenticated, read-only request, ListSecrets with limit=1,
 * and prints the method, the project and the result:
 *
 *   method:  password (user tag-keeper, domain my-account)
 *   project: 0123... (cn-north-4) at https://kms.cn-north-4.myhuaweicloud.com
 *   result:  ok: ListSecrets answered HTTP 200 (request id ...)
 *
 * Nothing is changed.  The whole check is bounded by the config's
 * pass_timeout.  It runs as a job on the manager (manager.h): SIGTERM and
 * SIGINT end it as "interrupted" (-EINTR) after the daemon's drain.
 */
#ifndef CSMS_CREDCHECK_H
#define CSMS_CREDCHECK_H

#include <stdio.h>
#include "config.h"

/* Returns 0 when the request succeeded, -EACCES when the credentials were
 * refused (401/403), another negative errno for anything else.  The result
 * line says which, on OUT. */
int credcheck_run(const struct config *c, FILE *out);

#endif
