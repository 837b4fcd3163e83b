/* timefmt.c - the time syntaxes, one parser and one formatter each.  See
 * timefmt.h. */
#include "timefmt.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util.h"
#include "values.h"

#define USEC_PER_MIN            (60 * USEC_PER_SEC)
#define USEC_PER_HOUR           (60 * USEC_PER_MIN)
#define USEC_PER_DAY            (24 * USEC_PER_HOUR)

/* ---- time spans ------------------------------------------------------------- */

static const struct {
	const char *suffix;
	uint64_t usec;
} timespan_units[] = {
	{ "us", 1 }, { "usec", 1 },
	{ "ms", USEC_PER_MSEC }, { "msec", USEC_PER_MSEC },
	{ "s", USEC_PER_SEC }, { "sec", USEC_PER_SEC },
	{ "m", USEC_PER_MIN }, { "min", USEC_PER_MIN },
	{ "h", USEC_PER_HOUR }, { "hr", USEC_PER_HOUR },
	{ "d", USEC_PER_DAY },
};

static int timespan_unit(const char *s, size_t len, uint64_t *ret)
{
	if (len == 0) {
		*ret = USEC_PER_SEC;    /* a bare number means seconds */
		return 0;
	}
	for (size_t i = 0; i < ELEMENTSOF(timespan_units); i++)
		if (strlen(timespan_units[i].suffix) == len &&
		    strncmp(timespan_units[i].suffix, s, len) == 0) {
			*ret = timespan_units[i].usec;
			return 0;
		}
	return -EINVAL;
}

/* One component "12", "1.5h", "250 ms" at *S; advances *S. */
static int timespan_component(const char **s, uint64_t *ret)
{
	const char *p = *s, *unit;
	uint64_t whole = 0, frac = 0, scale = 1, mult, v;
	unsigned frac_digits = 0;

	if (!isdigit((unsigned char) *p))
		return -EINVAL;
	for (; isdigit((unsigned char) *p); p++)
		if (u64_mul_add(&whole, 10, (uint64_t) (*p - '0')) < 0)
			return -ERANGE;
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char) *p))
			return -EINVAL;
		/* Six decimals, so that frac * mult cannot overflow; more
		 * are refused rather than silently dropped. */
		for (; isdigit((unsigned char) *p); p++) {
			if (++frac_digits > 6)
				return -EINVAL;
			frac = frac * 10 + (uint64_t) (*p - '0');
			scale *= 10;
		}
	}
	while (*p == ' ' || *p == '\t')
		p++;
	unit = p;
	while (*p >= 'a' && *p <= 'z')
		p++;
	if (timespan_unit(unit, (size_t) (p - unit), &mult) < 0)
		return -EINVAL;
	v = whole;
	if (u64_mul_add(&v, mult, frac * mult / scale) < 0)
		return -ERANGE;
	*ret = v;
	*s = p;
	return 0;
}

int parse_timespan(const char *s, uint64_t *ret_usec)
{
	uint64_t total = 0;
	bool any = false;

	for (;;) {
		uint64_t v;
		int r;

		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s)
			break;
		r = timespan_component(&s, &v);
		if (r < 0)
			return r;
		if (total > UINT64_MAX - v)
			return -ERANGE;
		total += v;
		any = true;
	}
	if (!any)
		return -EINVAL;
	*ret_usec = total;
	return 0;
}

const char *format_timespan(char *buf, size_t size, uint64_t usec)
{
	static const struct { const char *unit; uint64_t usec; } units[] = {
		{ "d", 24 * 3600 * USEC_PER_SEC },
		{ "h", 3600 * USEC_PER_SEC },
		{ "min", 60 * USEC_PER_SEC },
		{ "s", USEC_PER_SEC },
		{ "ms", USEC_PER_MSEC },
	};
	bool long_span = usec >= 60 * USEC_PER_SEC;
	size_t off = 0;

	if (size == 0)
		return buf;
	buf[0] = '\0';
	if (usec < USEC_PER_MSEC) {
		snprintf(buf, size, "%" PRIu64 "us", usec);
		return buf;
	}
	for (size_t i = 0; i < ELEMENTSOF(units); i++) {
		uint64_t n = usec / units[i].usec;
		int w;

		/* Milliseconds are noise next to minutes. */
		if (units[i].usec == USEC_PER_MSEC && long_span)
			break;
		if (n == 0)
			continue;
		w = snprintf(buf + off, size - off, "%s%" PRIu64 "%s", off ? " " : "", n, units[i].unit);
		if (w < 0 || (size_t) w >= size - off) {
			buf[off] = '\0';       /* drop a part that did not fit */
			break;
		}
		off += (size_t) w;
		usec -= n * units[i].usec;
	}
	return buf;
}

/* ---- calendar fields -------------------------------------------------------- */

/* A date and time of day as written, checked field by field. */
struct civil {
	int year, mon, day, hour, min, sec;
};

static int days_in_month(int year, int month)
{
	static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;

	return month == 2 && leap ? 29 : days[month - 1];
}

static bool civil_valid(const struct civil *c)
{
	return c->year >= 1970 && c->year <= 9999 && c->mon >= 1 && c->mon <= 12 && c->day >= 1 &&
	       c->day <= days_in_month(c->year, c->mon) && c->hour >= 0 && c->hour <= 23 &&
	       c->min >= 0 && c->min <= 59 && c->sec >= 0 && c->sec <= 59;
}

static struct tm civil_tm(const struct civil *c)
{
	return (struct tm) {
		.tm_year = c->year - 1900, .tm_mon = c->mon - 1, .tm_mday = c->day,
		.tm_hour = c->hour, .tm_min = c->min, .tm_sec = c->sec, .tm_isdst = -1,
	};
}

static int civil_to_utc(const struct civil *c, time_t *ret)
{
	struct tm tm = civil_tm(c);
	time_t t = timegm(&tm);

	if (t == (time_t) -1)
		return -EINVAL;
	*ret = t;
	return 0;
}

/* The instant local time C names.  mktime() with tm_isdst = -1 picks one
 * of two candidates silently, and moves a time the clocks skip: try
 * standard and daylight time each, and keep those that read back as C. */
static int civil_to_local(const struct civil *c, time_t *ret)
{
	time_t found[2];
	int n = 0;

	for (int dst = 0; dst <= 1; dst++) {
		struct tm tm = civil_tm(c);
		time_t t;

		tm.tm_isdst = dst;
		t = mktime(&tm);
		if (t == (time_t) -1 || tm.tm_isdst != dst || tm.tm_year != c->year - 1900 ||
		    tm.tm_mon != c->mon - 1 || tm.tm_mday != c->day || tm.tm_hour != c->hour ||
		    tm.tm_min != c->min || tm.tm_sec != c->sec)
			continue;
		if (n == 0 || found[0] != t)
			found[n++] = t;
	}
	if (n == 0)
		return -ENOENT;
	if (n > 1)
		return -ENOTUNIQ;
	*ret = found[0];
	return 0;
}

/* ---- times for people -------------------------------------------------------- */

/* Zone suffix at S: 1 with *OFFSET_SEC set, 0 for none, -1 when bad. */
static int parse_zone(const char *s, long *offset_sec)
{
	int h, m;

	if (*s == '\0')
		return 0;
	if (strcmp(s, "Z") == 0 || strcmp(s, " UTC") == 0 || strcmp(s, "UTC") == 0) {
		*offset_sec = 0;
		return 1;
	}
	if ((s[0] != '+' && s[0] != '-') || strlen(s) != 6 || s[3] != ':')
		return -1;
	h = parse_digits(s + 1, 2);
	m = parse_digits(s + 4, 2);
	if (h < 0 || h > 23 || m < 0 || m > 59)
		return -1;
	*offset_sec = (s[0] == '-' ? -1 : 1) * (h * 3600L + m * 60L);
	return 1;
}

/* "YYYY-MM-DD[( |T)HH:MM[:SS]]" at *S into *C; advances *S. */
static int parse_civil(const char **s, struct civil *c)
{
	const char *p = *s;

	*c = (struct civil) {};
	if (strlen(p) < 10 || p[4] != '-' || p[7] != '-')
		return -EINVAL;
	c->year = parse_digits(p, 4);
	c->mon = parse_digits(p + 5, 2);
	c->day = parse_digits(p + 8, 2);
	p += 10;
	if ((*p == ' ' || *p == 'T') && p[1] >= '0' && p[1] <= '9') {
		if (strlen(p) < 6 || p[3] != ':')
			return -EINVAL;
		c->hour = parse_digits(p + 1, 2);
		c->min = parse_digits(p + 4, 2);
		p += 6;
		if (*p == ':') {
			c->sec = parse_digits(p + 1, 2);
			p += strnlen(p, 3);
		}
	}
	*s = p;
	return civil_valid(c) ? 0 : -EINVAL;
}

int parse_time(const char *s, enum time_zone_default zone_default, uint64_t *ret_usec)
{
	struct civil c;
	long offset = 0;
	int zone, r;
	time_t t;

	if (!s)
		return -EINVAL;
	if (s[0] == '@') {
		uint64_t v;

		if (parse_uint64(s + 1, &v) < 0 || v > UINT64_MAX / USEC_PER_SEC)
			return -EINVAL;
		*ret_usec = v * USEC_PER_SEC;
		return 0;
	}
	if (parse_civil(&s, &c) < 0 || (zone = parse_zone(s, &offset)) < 0)
		return -EINVAL;
	r = zone || zone_default == ZONE_UTC ? civil_to_utc(&c, &t) : civil_to_local(&c, &t);
	if (r < 0)
		return r;
	t -= offset;
	if (t < 0)
		return -EINVAL;
	*ret_usec = (uint64_t) t * USEC_PER_SEC;
	return 0;
}

const char *parse_time_problem(int r)
{
	if (r == -ENOTUNIQ)
		return "that local time happens twice (the clocks go back an hour then); "
		       "append the offset meant, like +01:00 or +02:00 right after the time, or Z for UTC";
	if (r == -ENOENT)
		return "that local time does not exist (the clocks skip that hour going forward); "
		       "give a time outside the skipped hour, or append an offset like +01:00 or Z for UTC";
	return NULL;
}

const char *format_utc(char *buf, size_t size, uint64_t usec)
{
	time_t t = (time_t) (usec / USEC_PER_SEC);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
		snprintf(buf, size, "@%" PRIu64, usec / USEC_PER_SEC);
	return buf;
}

/* ---- RFC 3339 ------------------------------------------------------------------- */

int parse_rfc3339_time(const char *s, uint64_t *ret)
{
	uint64_t usec = 0, scale = 100000;
	struct civil c;
	time_t t;

	/* YYYY-MM-DDTHH:MM:SS, checked character by character: strptime()
	 * would accept single digits and spaces. */
	if (!s || strlen(s) < 19 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
	    s[16] != ':')
		return -EINVAL;
	c = (struct civil) {
		.year = parse_digits(s, 4), .mon = parse_digits(s + 5, 2), .day = parse_digits(s + 8, 2),
		.hour = parse_digits(s + 11, 2), .min = parse_digits(s + 14, 2),
		.sec = parse_digits(s + 17, 2),
	};
	if (!civil_valid(&c))
		return -EINVAL;
	s += 19;
	if (*s == '.') {
		/* Microseconds; further digits (nanoseconds) are dropped. */
		if (s[1] < '0' || s[1] > '9')
			return -EINVAL;
		for (s++; *s >= '0' && *s <= '9'; s++) {
			usec += (uint64_t) (*s - '0') * scale;
			scale /= 10;
		}
	}
	if ((strcmp(s, "Z") != 0 && strcmp(s, "+00:00") != 0) || civil_to_utc(&c, &t) < 0)
		return -EINVAL;
	*ret = (uint64_t) t * USEC_PER_SEC + usec;
	return 0;
}

const char *format_rfc3339_time(char *buf, size_t size, uint64_t usec, bool fraction)
{
	time_t t = (time_t) (usec / USEC_PER_SEC);
	char whole[24];
	struct tm tm;
	int n;

	if (!gmtime_r(&t, &tm) || tm.tm_year > 9999 - 1900 ||
	    strftime(whole, sizeof(whole), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		return NULL;
	if (fraction)
		n = snprintf(buf, size, "%s.%06" PRIu64 "Z", whole, usec % USEC_PER_SEC);
	else
		n = snprintf(buf, size, "%sZ", whole);
	return n > 0 && (size_t) n < size ? buf : NULL;
}
