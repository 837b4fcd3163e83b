/* unit.c - which systemd unit runs a configuration. */
#include "unit.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-login.h>

#include "util.h"

static bool valid_instance(const char *s, size_t n)
{
	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:_.-\\", s[i]))
			return false;
	return true;
}

char *unit_for_config(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (n <= 5 || strcmp(base + n - 5, ".conf") != 0)
		return NULL;
	n -= 5;
	if (n == strlen("csms-tagd") && strncmp(base, "csms-tagd", n) == 0)
		return strdup(UNIT_MAIN);
	if (!valid_instance(base, n))
		return NULL;
	return xasprintf("csms-tagd@%.*s.service", (int) n, base);
}

static bool is_our_service(const char *unit)
{
	size_t n = strlen(unit);

	return (streq_ptr(unit, UNIT_MAIN) || strncmp(unit, "csms-tagd@", 10) == 0) &&
	       n > 8 && strcmp(unit + n - 8, ".service") == 0;
}

char *unit_current(const char *config_path)
{
	char *unit = NULL;

	if (sd_pid_get_unit(0, &unit) >= 0 && unit && is_our_service(unit))
		return unit;
	free(unit);
	unit = config_path ? unit_for_config(config_path) : NULL;
	return unit ? unit : strdup(UNIT_MAIN);
}

char *unit_short_name(const char *unit)
{
	size_t n = strlen(unit);

	if (n > 8 && strcmp(unit + n - 8, ".service") == 0)
		n -= 8;
	return strndup(unit, n);
}

char *unit_of_instance(const char *name)
{
	return name ? xasprintf("csms-tagd@%s.service", name) : strdup(UNIT_MAIN);
}

char *unit_state_directory(const char *name)
{
	return name ? xasprintf("%s-%s", STATE_DIRECTORY_DEFAULT, name) : strdup(STATE_DIRECTORY_DEFAULT);
}

char *unit_state_directory_of(const char *unit)
{
	_cleanup_free_ char *name = NULL;
	size_t n = strlen(unit);

	if (strncmp(unit, "csms-tagd@", 10) == 0 && n > 10 + 8)
		name = strndup(unit + 10, n - 10 - 8);
	else if (streq_ptr(unit, UNIT_MAIN))
		return unit_state_directory(NULL);
	else
		return NULL;
	return name ? unit_state_directory(name) : NULL;
}
