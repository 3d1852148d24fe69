/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * mounts.c - questions about the mount table, asked of
 * /proc/self/mountinfo: is something (of a given type and source) mounted
 * at a path.  Used by the capture daemon (is our capture mount still
 * there) and by the mount (is the mount point free).
 *
 * Format (proc(5)): "ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTS [TAG...] -
 * FSTYPE SOURCE SUPEROPTS", space-separated, with space, tab, newline and
 * backslash in a field written as \ooo.
 */
#include <stdio.h>
#include <string.h>

#include "util/util.h"

static int is_octal(char c)
{
	return c >= '0' && c <= '7';
}

void cdp_mount_field_unescape(char *s)
{
	char *w = s;

	while (*s) {
		if (s[0] == '\\' && is_octal(s[1]) && is_octal(s[2]) && is_octal(s[3])) {
			*w++ = (char)(((s[1] - '0') << 6) | ((s[2] - '0') << 3) | (s[3] - '0'));
			s += 4;
		} else {
			*w++ = *s++;
		}
	}
	*w = '\0';
}

/* Whether the fields after the mount point (from save on) say fstype and
 * a source starting with source_prefix. */
static int type_matches(char **save, const char *fstype, const char *source_prefix,
			char *src, size_t src_size)
{
	char *field, *source;

	while ((field = strtok_r(NULL, " ", save)) && strcmp(field, "-") != 0)
		;
	field = field ? strtok_r(NULL, " ", save) : NULL;
	source = field ? strtok_r(NULL, " ", save) : NULL;
	if (!field || !source)
		return !fstype && !source_prefix && !src;
	cdp_mount_field_unescape(field);
	cdp_mount_field_unescape(source);
	if (fstype && strcmp(field, fstype) != 0)
		return 0;
	if (source_prefix && strncmp(source, source_prefix, strlen(source_prefix)) != 0)
		return 0;
	if (src)
		snprintf(src, src_size, "%s", source);
	return 1;
}

int cdp_mount_find(const char *path, const char *fstype, const char *source_prefix,
		   char *src, size_t src_size)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char line[16384];
	int found = 0;

	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f)) {
		char *save = NULL, *field = strtok_r(line, " \n", &save);
		int i;

		for (i = 1; field && i < 5; i++)
			field = strtok_r(NULL, " ", &save);
		if (!field)
			continue;
		cdp_mount_field_unescape(field);
		found = strcmp(field, path) == 0 &&
			type_matches(&save, fstype, source_prefix, src, src_size);
	}
	fclose(f);
	return found;
}

int cdp_mount_listed(const char *path, const char *fstype, const char *source_prefix)
{
	return cdp_mount_find(path, fstype, source_prefix, NULL, 0);
}
