/* credentials.h - the one place a credential file is found, opened, read
 * and judged: for start-up, --check-config and every re-read alike, so a
 * file is accepted or refused the same way, with the same message, by all.
 *
 * Finding: a name in [auth] with a '/' is a path (relative ones relative to
 * the working directory); a bare name is a file in $CREDENTIALS_DIRECTORY
 * (set by systemd's LoadCredential=), or, when that is unset, in
 * CREDENTIALS_DEFAULT_DIR, the directory the shipped units load them from,
 * so that "csms-tagd --check-config" run by hand as root finds them.
 *
 * A credential file is a regular file with no group or other permission
 * bits, of at most CREDENTIAL_MAX_BYTES, holding exactly the value: one
 * trailing "\n" is tolerated (editors add it); whitespace at either end, a
 * byte order mark, a second line, control characters and, for keys and
 * tokens, any non-ASCII character are refused.  Such a value would only be
 * sent and refused with 401, and failed attempts count towards the API's
 * AK lockout.  Messages name the [auth] key and the path, never content.
 */
#ifndef CSMS_CREDENTIALS_H
#define CSMS_CREDENTIALS_H

#define CREDENTIALS_DEFAULT_DIR SYSCONFDIR "/csms-tagd/credentials"
#define CREDENTIAL_MAX_BYTES    (64 * 1024)

/* The path of credential NAME ([auth] key WHAT) in *RET (malloc'd).
 * Returns 0, -ENOMEM, or -EINVAL with *ERROR (malloc'd) for a name that
 * cannot be a file ("", ".", "..", control characters). */
int credential_resolve(const char *what, const char *name, char **ret, char **error);

/* Open, check and read credential file PATH ([auth] key WHAT, as resolved
 * by credential_resolve()).  WHAT also says what the file holds:
 * "password_file" an IAM password (UTF-8 text), any other key an access
 * key, secret key, security token or IAM token (ASCII).  Returns 0 and the value in *RET (malloc'd;
 * the caller wipes it with credential_free()), or a negative errno with
 * *ERROR (malloc'd, NULL on -ENOMEM): "WHAT PATH: what is wrong[; how to
 * fix it]".  Never blocks on a FIFO. */
int credential_read(const char *what, const char *path, char **ret, char **error);

/* Wipe and free a value from credential_read(); NULL is fine. */
void credential_free(char *value);

#endif
