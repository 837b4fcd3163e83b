/* util.c - small helpers shared by every module. */
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

char *xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int r;

	va_start(ap, fmt);
	r = vasprintf(&s, fmt, ap);
	va_end(ap);
	return r < 0 ? NULL : s;
}

void set_first_reason(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;

	if (buf[0])
		return;
	va_start(ap, fmt);
	vsnprintf(buf, size, fmt, ap);
	va_end(ap);
}

int fail_message(char **error, const char *fmt, ...)
{
	va_list ap;

	if (error) {
		va_start(ap, fmt);
		if (vasprintf(error, fmt, ap) < 0)
			*error = NULL;
		va_end(ap);
	}
	return -EINVAL;
}

int parse_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

bool streq_ptr(const char *a, const char *b)
{
	if (!a || !b)
		return a == b;
	return strcmp(a, b) == 0;
}

bool startswith(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static uint64_t clock_usec(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

uint64_t now_monotonic_usec(void) { return clock_usec(CLOCK_MONOTONIC); }
uint64_t now_realtime_usec(void) { return clock_usec(CLOCK_REALTIME); }

int read_fd(int fd, size_t max, char **ret, size_t *ret_len)
{
	struct stat st;
	char *buf;
	size_t len = 0;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	if ((uint64_t) st.st_size > max)
		return -EFBIG;
	buf = malloc(max + 1);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		ssize_t n = read(fd, buf + len, max + 1 - len);

		if (n < 0) {
			int r = -errno;

			if (r == -EINTR)
				continue;
			free(buf);
			return r;
		}
		if (n == 0)
			break;
		len += (size_t) n;
		if (len > max) {
			/* The file grew after fstat(). */
			free(buf);
			return -EFBIG;
		}
	}
	buf[len] = '\0';
	*ret = buf;
	if (ret_len)
		*ret_len = len;
	return 0;
}

int read_file(const char *path, size_t max, char **ret, size_t *ret_len)
{
	int fd, r;

	/* O_NONBLOCK: opening a FIFO must not wait for a writer; read_fd()
	 * refuses anything but a regular file before reading. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	r = read_fd(fd, max, ret, ret_len);
	close(fd);
	return r;
}

/* Length of the valid UTF-8 sequence at S (at most LEN bytes), or 0. */
static size_t utf8_seq_len(const unsigned char *s, size_t len)
{
	uint32_t cp;
	size_t n;

	if (s[0] < 0x80)
		return 1;
	if ((s[0] & 0xe0) == 0xc0) {
		n = 2;
		cp = s[0] & 0x1f;
	} else if ((s[0] & 0xf0) == 0xe0) {
		n = 3;
		cp = s[0] & 0x0f;
	} else if ((s[0] & 0xf8) == 0xf0) {
		n = 4;
		cp = s[0] & 0x07;
	} else
		return 0;
	if (n > len)
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	return n;
}

bool utf8_is_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;

	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(p + i, len - i);

		if (n == 0)
			return false;
		i += n;
	}
	return true;
}

char *escape_for_log(const char *s)
{
	const unsigned char *p = (const unsigned char *) (s ? s : "(null)");
	size_t len = strlen((const char *) p), o = 0;
	char *out = malloc(len * 4 + 1);

	if (!out)
		return NULL;
	for (size_t i = 0; i < len;) {
		size_t n = utf8_seq_len(p + i, len - i);

		if (n > 1) {
			memcpy(out + o, p + i, n);
			o += n;
			i += n;
			continue;
		}
		if (n == 1 && p[i] >= 0x20 && p[i] != 0x7f && p[i] != '\\') {
			out[o++] = (char) p[i++];
			continue;
		}
		o += (size_t) sprintf(out + o, "\\x%02x", p[i]);
		i++;
	}
	out[o] = '\0';
	return out;
}

uint64_t random_below(uint64_t n)
{
	uint64_t v = 0;

	if (n <= 1)
		return 0;
	/* getrandom() for 8 bytes never blocks once the pool is initialised
	 * and never returns short; fall back to the clock if it fails. */
	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) != (ssize_t) sizeof(v))
		v = now_monotonic_usec() * UINT64_C(6364136223846793005) + 1442695040888963407u;
	return v % n;
}

static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t k = write(fd, buf, len);

		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return -errno;
		buf += k;
		len -= (size_t) k;
	}
	return 0;
}

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode)
{
	_cleanup_free_ char *copy = strdup(path), *tmp = NULL;
	const char *dir, *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int fd, dfd, r;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	tmp = xasprintf("%s/.%s.XXXXXX", dir, base);
	if (!tmp)
		return -ENOMEM;
	fd = mkostemp(tmp, O_CLOEXEC);          /* mode 0600 until fchmod() */
	if (fd < 0)
		return -errno;
	r = write_all(fd, data, len);
	if (r >= 0 && fchmod(fd, mode) < 0)
		r = -errno;
	if (r >= 0 && fsync(fd) < 0)
		r = -errno;
	if (close(fd) < 0 && r >= 0)
		r = -errno;
	if (r >= 0 && rename(tmp, path) < 0)
		r = -errno;
	if (r < 0) {
		(void) unlink(tmp);
		return r;
	}
	/* The rename survives a crash only once the directory is synced. */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return -errno;
	if (fsync(dfd) < 0)
		r = -errno;
	close(dfd);
	return r;
}

char *state_file_path(const char *dir, const char *file)
{
	const char *env = getenv("STATE_DIRECTORY");

	if (dir)
		return xasprintf("%s/%s", dir, file);
	if (env && *env)
		return xasprintf("%.*s/%s", (int) strcspn(env, ":"), env, file);
	return xasprintf("%s/%s", STATE_DIRECTORY_DEFAULT, file);
}

/* *V = *V * MUL + ADD, or -ERANGE when that does not fit. */
int u64_mul_add(uint64_t *v, uint64_t mul, uint64_t add)
{
	if (mul != 0 && *v > UINT64_MAX / mul)
		return -ERANGE;
	if (*v * mul > UINT64_MAX - add)
		return -ERANGE;
	*v = *v * mul + add;
	return 0;
}
