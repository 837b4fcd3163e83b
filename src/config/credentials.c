/* credentials.c - finding, reading and judging credential files.  See
 * credentials.h. */
#include "credentials.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "advice.h"
#include "util.h"
#include "values.h"

static const char *search_dir(void)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY");

	return dir && *dir ? dir : NULL;
}

int credential_resolve(const char *what, const char *name, char **ret, char **error)
{
	const char *dir = search_dir();
	char *path;

	if (!*name || streq_ptr(name, ".") || streq_ptr(name, "..") || has_control(name)) {
		_cleanup_free_ char *q = escape_for_log(name);

		*error = xasprintf("%s '%s' is not a file name", what, q ? q : "?");
		return -EINVAL;
	}
	if (strchr(name, '/'))
		path = strdup(name);
	else
		path = xasprintf("%s/%s", dir ? dir : CREDENTIALS_DEFAULT_DIR, name);
	if (!path)
		return -ENOMEM;
	*ret = path;
	return 0;
}

/* Whether PATH is a file directly in DIR. */
static bool in_dir(const char *path, const char *dir)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash ? (size_t) (slash - path) : 0;

	return dir && strlen(dir) == len && strncmp(path, dir, len) == 0;
}

/* What to do about a file that cannot be opened (R), as "; ..." or " (...)":
 * under systemd, how LoadCredential= works (advice.h); by hand, where a
 * missing file was looked for and how to look elsewhere. */
static char *open_hint(const char *path, int r)
{
	const char *dir = search_dir();
	const char *advice = advice_credential_error(r, in_dir(path, dir));

	if (advice)
		return xasprintf("; %s", advice);
	if (r == -ENOENT && !dir && in_dir(path, CREDENTIALS_DEFAULT_DIR))
		return strdup(" (bare names are looked up in $CREDENTIALS_DIRECTORY, or in "
		              CREDENTIALS_DEFAULT_DIR " when it is unset; set CREDENTIALS_DIRECTORY=DIR "
		              "to read them from DIR)");
	return NULL;
}

static const char *file_type(mode_t mode)
{
	if (S_ISDIR(mode))
		return "is a directory, not a regular file";
	if (S_ISFIFO(mode))
		return "is a FIFO, not a regular file";
	if (S_ISSOCK(mode))
		return "is a socket, not a regular file";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "is a device, not a regular file";
	return "is not a regular file";
}

/* What is wrong with the LEN bytes of VALUE as a credential, after
 * the one tolerated trailing newline is gone; NULL when nothing. */
static const char *judge(const char *value, size_t len, bool ascii_only)
{
	bool ascii = true;

	if (len == 0)
		return "is empty";
	if (len >= 3 && memcmp(value, "\xef\xbb\xbf", 3) == 0)
		return "starts with a byte order mark; save it without one";
	if (memchr(value, '\n', len))
		return "holds more than one line; it must hold only the value (one trailing newline is allowed)";
	if (value[len - 1] == '\r')
		return "ends with a carriage return (a Windows line end); save it with a plain newline or none";
	if (value[0] == ' ' || value[0] == '\t' || value[len - 1] == ' ' || value[len - 1] == '\t')
		return "has whitespace at its start or end, which would be sent as part of the value";
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char) value[i];

		if (c < 0x20 || c == 0x7f)
			return "holds a control character";
		ascii = ascii && c < 0x80;
	}
	if (!utf8_is_valid(value, len))
		return "is not valid UTF-8";
	if (!ascii && ascii_only)
		return "holds a non-ASCII character; keys and tokens are ASCII";
	return NULL;
}

int credential_read(const char *what, const char *path, char **ret, char **error)
{
	/* Keys and tokens are ASCII; only a password may be any text. */
	bool ascii_only = !streq_ptr(what, "password_file");
	_cleanup_free_ char *q = escape_for_log(path);
	const char *shown = q ? q : "?", *problem = NULL;
	bool from_errno = false;
	char *buf = NULL, *value = NULL;
	size_t len = 0, file_len = 0;
	struct stat st;
	int fd, r = 0;

	*ret = NULL;
	*error = NULL;
	/* O_NONBLOCK: a FIFO must not hang the daemon or the check. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		_cleanup_free_ char *hint = NULL;

		r = -errno;
		hint = open_hint(path, r);
		*error = xasprintf("%s %s: %s%s", what, shown, strerror(-r), hint ? hint : "");
		return r;
	}
	/* The checks are of the file that is read, not of a name that may
	 * have been replaced meanwhile. */
	if (fstat(fd, &st) < 0)
		r = -errno, problem = strerror(-r), from_errno = true;
	else if (!S_ISREG(st.st_mode))
		r = -EINVAL, problem = file_type(st.st_mode);
	else if (st.st_mode & 0077) {
		*error = xasprintf("%s %s is %s by group or others (mode %04o); chmod 600 it", what, shown,
		                   (st.st_mode & 0044) ? "readable" : "accessible",
		                   (unsigned) (st.st_mode & 07777));
		close(fd);
		return -EPERM;
	} else {
		r = read_fd(fd, CREDENTIAL_MAX_BYTES, &buf, &file_len);
		if (r == -EFBIG)
			problem = "is larger than 64 KiB, too large for a credential";
		else if (r < 0)
			problem = strerror(-r), from_errno = true;
	}
	close(fd);
	if (r == 0) {
		len = file_len;
		if (len > 0 && buf[len - 1] == '\n')
			len--;
		problem = memchr(buf, '\0', file_len) ? "holds a NUL byte" : judge(buf, len, ascii_only);
		if (problem)
			r = -EINVAL;
		else if (!(value = strndup(buf, len)))
			r = -ENOMEM;
		explicit_bzero(buf, file_len);
		free(buf);
	}
	if (r < 0) {
		if (r != -ENOMEM)
			*error = xasprintf("%s %s%s %s", what, shown, from_errno ? ":" : "", problem);
		return r;
	}
	*ret = value;
	return 0;
}

void credential_free(char *value)
{
	if (!value)
		return;
	explicit_bzero(value, strlen(value));
	free(value);
}
