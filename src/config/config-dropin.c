/* config-dropin.c - which drop-ins follow a configuration file: the
 * "*.conf" files of PATH.d, in lexical order.  See config.h. */
#include "config.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

char *config_dropin_dir(const char *path)
{
	return xasprintf("%s.d", path);
}

/* "NAME.conf", not a dotfile (editors' and package managers' leftovers:
 * ".x.conf.swp", ".#x.conf", "x.conf.dpkg-old" are never read). */
static bool is_dropin_name(const char *name)
{
	size_t len = strlen(name);

	return name[0] != '.' && len > 5 && strcmp(name + len - 5, ".conf") == 0;
}

static int compare_names(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static int push_name(char ***v, size_t *n, char *s)
{
	char **nv;

	if (!s)
		return -ENOMEM;
	nv = realloc(*v, (*n + 1) * sizeof(**v));
	if (!nv) {
		free(s);
		return -ENOMEM;
	}
	nv[(*n)++] = s;
	*v = nv;
	return 0;
}

int config_list_dropins(const char *path, char ***ret, size_t *ret_n)
{
	_cleanup_free_ char *dir = config_dropin_dir(path);
	char **names = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int r = 0;

	*ret = NULL;
	*ret_n = 0;
	if (!dir)
		return -ENOMEM;
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (r >= 0 && (errno = 0, de = readdir(d)))
		if (is_dropin_name(de->d_name))
			r = push_name(&names, &n, xasprintf("%s/%s", dir, de->d_name));
	if (r >= 0 && errno)
		r = -errno;
	closedir(d);
	if (r < 0) {
		free_names(names, n);
		return r;
	}
	/* The order of readdir() is the file system's: sort, so that
	 * 10-a.conf is read before 20-b.conf everywhere. */
	if (n > 1)
		qsort(names, n, sizeof(*names), compare_names);
	*ret = names;
	*ret_n = n;
	return 0;
}
