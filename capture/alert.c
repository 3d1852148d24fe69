/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * alert.c - alerts of the capture daemon and its supervisor, and the
 * configuration file that names where they go.
 *
 * Configuration: /etc/cdpfs/cdpfs.conf, or the file `cdpfs capture
 * --config FILE` names (CDPFS_CONFIG in the environment of the daemon).
 * One "key = value" per line; '#' starts a comment; unknown keys are
 * logged and ignored; a missing default file is no error (a missing
 * --config file is: cdp_capture_start() checks it first).  Keys:
 *   alert_command = CMD        run by /bin/sh -c for each alert, the alert
 *                              as one JSON object (one line) on its stdin
 *   rpo_warning = DURATION     RPO above which "rpo_warning" fires (30s)
 *   rpo_error = DURATION       RPO above which "rpo_error" fires (5m)
 *   store_fill_percent = N     the store's disk above N% used fires
 *                              "store_fill" (90)
 *   suspect = on|off           mass-damage detection (store/suspect.c) on
 *                              or off (on, or CDPFS_SUSPECT's)
 *   suspect_hot = N            a second with a score of N is hot (3)
 *   suspect_burst = N          a score of N within 5 s opens a suspect
 *                              interval at once (30)
 *   [DIR]                      the suspect keys that follow are DIR's alone
 *                              (an absolute path; other keys are refused
 *                              there), until the next [DIR]
 * DURATION is a number with s, m, h or d (seconds without).
 *
 * Each alert goes to the capture log, to syslog (facility daemon, ident
 * cdpfs) and to the alert command: {"event", "severity", "time",
 * "time_ns", "store", "host", "dir", "pid", "message"} (host and dir null
 * when the event is the daemon's; suspect_activity names both).  Events: capture_died,
 * capture_restarted, capture_restart_failed, degraded, degraded_cleared,
 * rpo_warning, rpo_error, rpo_ok, store_fill, late_observation,
 * suspect_activity.
 * The command runs detached (a grandchild of the caller, reaped by
 * init) with a copy of the environment; its failures are its own: the
 * capture never waits for it.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>
#include <sys/wait.h>

#include "capture/capture_int.h"

static struct cap_config config = {
	.rpo_warning_ns = 30LL * 1000000000LL,
	.rpo_error_ns = 300LL * 1000000000LL,
	.store_fill_percent = 90,
	.suspect = -1,
};

const struct cap_config *cap_config(void)
{
	return &config;
}

static char *trim(char *s)
{
	char *e;

	while (isspace((unsigned char)*s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static int parse_duration_ns(const char *v, int64_t *out)
{
	char *end;
	double x = strtod(v, &end);
	double mult = 1;

	if (end == v || x < 0)
		return -EINVAL;
	if (*end == 's' || !*end)
		mult = 1;
	else if (*end == 'm')
		mult = 60;
	else if (*end == 'h')
		mult = 3600;
	else if (*end == 'd')
		mult = 86400;
	else
		return -EINVAL;
	if (*end && end[1])
		return -EINVAL;
	*out = (int64_t)(x * mult * 1e9);
	return 0;
}

int cap_config_load(const char *path, int must_exist, char *err, size_t errlen)
{
	struct cap_dir_config *dir = NULL;
	char line[4096];
	unsigned lineno = 0;
	FILE *f;

	if (!path)
		path = CAP_CONFIG_DEFAULT;
	f = fopen(path, "re");
	if (!f) {
		if (!must_exist && errno == ENOENT)
			return 0;
		cdp_errf(err, errlen, "cdpfs: cannot read the configuration '%s': %s", path,
			 strerror(errno));
		return -errno;
	}
	while (fgets(line, sizeof(line), f)) {
		char *hash, *eq, *key, *val;

		lineno++;
		hash = strchr(line, '#');
		if (hash)
			*hash = '\0';
		key = trim(line);
		if (!*key)
			continue;
		if (key[0] == '[') {
			char *close = strrchr(key, ']'), canon[PATH_MAX];
			size_t len;

			if (close)
				*close = '\0';
			val = trim(key + 1);
			len = strlen(val);
			while (len > 1 && val[len - 1] == '/')
				val[--len] = '\0';
			if (!close || close[1] || val[0] != '/' || len >= PATH_MAX) {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: expected '[/absolute/dir]' "
					 "for a directory's section", path, lineno);
				fclose(f);
				return -EINVAL;
			}
			if (config.ndirs == CAP_CONFIG_DIRS_MAX) {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: more than %d directory "
					 "sections", path, lineno, CAP_CONFIG_DIRS_MAX);
				fclose(f);
				return -EINVAL;
			}
			dir = &config.dirs[config.ndirs++];
			memset(dir, 0, sizeof(*dir));
			dir->suspect = -1;
			/* capture roots are canonical: so is a section of one that exists */
			snprintf(dir->path, sizeof(dir->path), "%s", realpath(val, canon) ? canon : val);
			continue;
		}
		eq = strchr(key, '=');
		if (!eq) {
			cdp_errf(err, errlen, "cdpfs: '%s' line %u: expected 'key = value'", path,
				 lineno);
			fclose(f);
			return -EINVAL;
		}
		*eq = '\0';
		val = trim(eq + 1);
		key = trim(key);
		if (dir && strncmp(key, "suspect", 7) != 0) {
			cdp_errf(err, errlen, "cdpfs: '%s' line %u: '%s' cannot be set per directory "
				 "(only suspect, suspect_hot and suspect_burst in a [DIR] section; "
				 "put it before the first one)", path, lineno, key);
			fclose(f);
			return -EINVAL;
		}
		if (strcmp(key, "alert_command") == 0) {
			snprintf(config.alert_command, sizeof(config.alert_command), "%s", val);
		} else if (strcmp(key, "rpo_warning") == 0 || strcmp(key, "rpo_error") == 0) {
			int64_t ns;

			if (parse_duration_ns(val, &ns) < 0) {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: bad duration '%s' (e.g. "
					 "30s, 5m)", path, lineno, val);
				fclose(f);
				return -EINVAL;
			}
			if (key[4] == 'w')
				config.rpo_warning_ns = ns;
			else
				config.rpo_error_ns = ns;
		} else if (strcmp(key, "store_fill_percent") == 0) {
			char *end;
			long v = strtol(val, &end, 10);

			if (end == val || *end || v < 1 || v > 100) {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: bad percentage '%s' "
					 "(1 to 100)", path, lineno, val);
				fclose(f);
				return -EINVAL;
			}
			config.store_fill_percent = (int)v;
		} else if (strcmp(key, "suspect") == 0) {
			if (strcmp(val, "on") == 0 || strcmp(val, "off") == 0) {
				*(dir ? &dir->suspect : &config.suspect) = val[1] == 'n';
			} else {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: bad value '%s' for "
					 "suspect (on or off)", path, lineno, val);
				fclose(f);
				return -EINVAL;
			}
		} else if (strcmp(key, "suspect_hot") == 0 || strcmp(key, "suspect_burst") == 0) {
			char *end;
			long v = strtol(val, &end, 10);

			if (end == val || *end || v < 1 || v > 1000000) {
				cdp_errf(err, errlen, "cdpfs: '%s' line %u: bad threshold '%s' for %s "
					 "(1 to 1000000)", path, lineno, val, key);
				fclose(f);
				return -EINVAL;
			}
			if (key[8] == 'h')
				*(dir ? &dir->suspect_hot : &config.suspect_hot) = (uint32_t)v;
			else
				*(dir ? &dir->suspect_burst : &config.suspect_burst) = (uint32_t)v;
		} else {
			cdp_log(LOG_WARNING, "'%s' line %u: unknown key '%s' ignored", path, lineno,
				key);
		}
	}
	fclose(f);
	return 0;
}

/* Appends s as a JSON string (quoted, escaped) to buf at *o. */
static void json_str(char *buf, size_t size, size_t *o, const char *s)
{
	if (!s) {
		*o += (size_t)snprintf(buf + *o, *o < size ? size - *o : 0, "null");
		return;
	}
	if (*o < size)
		buf[(*o)++] = '"';
	for (; *s && *o + 8 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[(*o)++] = '\\';
			buf[(*o)++] = (char)c;
		} else if (c < 0x20) {
			*o += (size_t)snprintf(buf + *o, size - *o, "\\u%04x", c);
		} else {
			buf[(*o)++] = (char)c;
		}
	}
	if (*o < size)
		buf[(*o)++] = '"';
}

static const char *severity_name(int level)
{
	return level <= LOG_CRIT ? "critical" : level <= LOG_ERR ? "error" :
	       level <= LOG_WARNING ? "warning" : "info";
}

/* Runs the alert command with json on its stdin, detached. */
static void run_command(const char *json)
{
	int p[2];
	pid_t pid;

	if (!config.alert_command[0] || pipe2(p, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		pid_t g = fork();

		if (g == 0) {
			int null_fd = open("/dev/null", O_WRONLY);

			dup2(p[0], STDIN_FILENO);
			if (null_fd >= 0)
				dup2(null_fd, STDOUT_FILENO);
			close_range(3, ~0U, 0);
			setsid();
			execl("/bin/sh", "sh", "-c", config.alert_command, (char *)NULL);
			_exit(127);
		}
		_exit(g < 0);
	}
	close(p[0]);
	if (pid > 0) {
		cap_write_all(p[1], json, strlen(json));
		cap_write_all(p[1], "\n", 1);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	close(p[1]);
}

void cap_alert(const char *store, const char *event, int level, const char *host,
	       const char *dir, const char *fmt, ...)
{
	char msg[1024], json[4096], when[64];
	struct timespec ts;
	struct tm tm;
	va_list ap;
	size_t o = 0;
	int64_t now = cdp_now_ns();

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cdp_log(level, "alert %s%s%s: %s", event, dir ? " for " : "", dir ? dir : "", msg);
	openlog("cdpfs", LOG_PID, LOG_DAEMON);
	syslog(level, "alert %s (store %s%s%s): %s", event, store, dir ? ", dir " : "",
	       dir ? dir : "", msg);
	ts.tv_sec = (time_t)(now / 1000000000LL);
	ts.tv_nsec = (long)(now % 1000000000LL);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(when, sizeof(when), "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec);
	o += (size_t)snprintf(json + o, sizeof(json) - o, "{\"event\": ");
	json_str(json, sizeof(json), &o, event);
	o += (size_t)snprintf(json + o, sizeof(json) - o, ", \"severity\": \"%s\", \"time\": "
			      "\"%s\", \"time_ns\": %lld, \"store\": ", severity_name(level), when,
			      (long long)now);
	json_str(json, sizeof(json), &o, store);
	o += (size_t)snprintf(json + o, sizeof(json) - o, ", \"host\": ");
	json_str(json, sizeof(json), &o, host);
	o += (size_t)snprintf(json + o, sizeof(json) - o, ", \"dir\": ");
	json_str(json, sizeof(json), &o, dir);
	o += (size_t)snprintf(json + o, sizeof(json) - o, ", \"pid\": %d, \"message\": ",
			      (int)getpid());
	json_str(json, sizeof(json), &o, msg);
	if (o + 2 < sizeof(json))
		snprintf(json + o, sizeof(json) - o, "}");
	else
		return;   /* cannot happen with the bounded fields above */
	run_command(json);
}

static int env_suspect_on(void)
{
	const char *env = getenv("CDPFS_SUSPECT");

	return !(env && (!strcmp(env, "off") || !strcmp(env, "0")));
}

void cap_suspect_configure(struct cdp_journal *j, const char *host)
{
	int on = config.suspect;

	if (on < 0 && !config.suspect_hot && !config.suspect_burst)
		return;   /* nothing set: the environment's, or the defaults */
	if (on < 0)
		on = env_suspect_on();
	if (cdp_journal_suspect_config(j, 0, on, config.suspect_hot, config.suspect_burst) < 0)
		cdp_log(LOG_ERR, "cannot configure the suspect detection of host '%s'", host);
}

void cap_suspect_configure_root(struct cap_root *r)
{
	const struct cap_dir_config *dc = NULL;
	size_t i;
	int on, rc;

	for (i = 0; i < config.ndirs; i++)
		if (strcmp(config.dirs[i].path, r->path) == 0)
			dc = &config.dirs[i];   /* the last section of a dir wins */
	if (!dc || !r->journal)
		return;
	on = dc->suspect >= 0 ? dc->suspect : config.suspect >= 0 ? config.suspect :
	     env_suspect_on();
	rc = cdp_journal_suspect_config(r->journal, r->root_id, on,
					dc->suspect_hot ? dc->suspect_hot : config.suspect_hot,
					dc->suspect_burst ? dc->suspect_burst :
					config.suspect_burst);
	if (rc < 0)
		cdp_log(LOG_ERR, "cannot configure the suspect detection of '%s': %s", r->path,
			cdp_strerror(rc));
	else
		cdp_log(LOG_INFO, "suspect detection of '%s': %s (its [%s] section)", r->path,
			on ? "on" : "off", dc->path);
}

void cap_suspect_alerts(const char *store, const char *host, struct cdp_journal *j,
			uint64_t *alerted, const struct cap_root *roots)
{
	struct cdp_suspect_opened o;
	const char *dir = NULL;
	char when[64], at[48];

	cdp_journal_suspects_opened(j, &o);
	if (o.count <= *alerted)
		return;
	for (; roots && o.root_id; roots = roots->next)
		if (roots->root_id == o.root_id && roots->journal == j)
			dir = roots->path;
	cdp_time_format(o.start_ns, when, sizeof(when));
	/* the exact instant in a TIME form every verb takes */
	snprintf(at, sizeof(at), "@%lld.%09lld", (long long)(o.last_good_ns / 1000000000LL),
		 (long long)(o.last_good_ns % 1000000000LL));
	cap_alert(store, "suspect_activity", LOG_CRIT, host, dir, "suspect activity since %s: "
		  "%llu files overwritten with random data and %llu renamed to a new extension "
		  "(score %u within 5 s; %llu interval%s opened); last good instant %s: 'cdpfs "
		  "suspects %s', then 'cdpfs restore %s:%s@%s DEST'", when,
		  (unsigned long long)o.overwritten, (unsigned long long)o.renamed, o.score,
		  (unsigned long long)(o.count - *alerted), o.count - *alerted == 1 ? "" : "s",
		  at, host, host, dir ? dir : "DIR", at);
	*alerted = o.count;
}
