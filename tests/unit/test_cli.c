/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_cli.c - unit tests of the pure logic of the `cdpfs` front end
 * (cli/): sizes and durations, instants for TIME, UTF-8 and JSON strings,
 * the manifest's and -o's escaping, the drill index parser, the facts of
 * `cdpfs status` (the last verify, the last passing drill), the growing
 * array, /proc liveness, mount points, the store path rule and its
 * messages, and the option parsing and help that the dispatcher does for
 * every verb (cli/options.c), with the verbs' own tables checked for
 * consistency.  What exits (usage errors, --help) runs in a child whose
 * status and output are compared.  Links every cli object but main.o.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/drill.h"
#include "cli/status.h"
#include "store.h"

#define S 1000000000LL

/* ------------------------------------------------------------ helpers */

/* What fn(arg) wrote on stdout and stderr in a child, and how it ended
 * (exit status, or 128 + signal). */
struct child_run {
	int status;
	char out[16384], err[4096];
};

static void read_all(int fd, char *buf, size_t size)
{
	size_t used = 0;
	ssize_t n;

	while (used + 1 < size && (n = read(fd, buf + used, size - 1 - used)) > 0)
		used += (size_t)n;
	buf[used] = '\0';
}

static void run_child(void (*fn)(void *), void *arg, struct child_run *r)
{
	int out[2], err[2], status;
	pid_t pid;

	assert_int_equal(pipe(out), 0);
	assert_int_equal(pipe(err), 0);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(out[1], STDOUT_FILENO);
		dup2(err[1], STDERR_FILENO);
		close(out[0]);
		close(err[0]);
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	close(out[1]);
	close(err[1]);
	/* the outputs here are small: stdout first, then stderr */
	read_all(out[0], r->out, sizeof(r->out));
	read_all(err[0], r->err, sizeof(r->err));
	close(out[0]);
	close(err[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* A writable argv (getopt_long permutes it), NULL-terminated; free with
 * free_argv(). */
static char **make_argv(const char *const *words, int *argc)
{
	int n = 0, i;
	char **argv;

	while (words[n])
		n++;
	argv = calloc((size_t)n + 1, sizeof(*argv));
	assert_non_null(argv);
	for (i = 0; i < n; i++)
		argv[i] = strdup(words[i]);
	*argc = n;
	return argv;
}

static void free_argv(char **argv)
{
	size_t i;

	for (i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/* What a FILE * writer printed. */
struct memout {
	char *buf;
	size_t len;
	FILE *f;
};

static void memout_open(struct memout *m)
{
	m->buf = NULL;
	m->len = 0;
	m->f = open_memstream(&m->buf, &m->len);
	assert_non_null(m->f);
}

static const char *memout_text(struct memout *m)
{
	fflush(m->f);
	return m->buf;
}

static void memout_close(struct memout *m)
{
	fclose(m->f);
	free(m->buf);
}

/* ------------------------------------------------- sizes, durations */

static void expect_size(const char *text, size_t want)
{
	size_t got = 0;

	if (cli_parse_size(text, &got) != 0)
		fail_msg("'%s': expected %zu, refused", text, want);
	if (got != want)
		fail_msg("'%s': expected %zu, got %zu", text, want, got);
}

static void test_parse_size(void **state)
{
	size_t got = 7;
	static const char *const bad[] = { "", "-1", "12Q", "M", "1MM", "1iB", "1 M",
		"17179869184G", "18446744073709551616", "1Bx", NULL };
	size_t i;

	expect_size("65536", 65536);
	expect_size("0", 0);
	expect_size("256M", 256u << 20);
	expect_size("256m", 256u << 20);
	expect_size("1G", 1u << 30);
	expect_size("4k", 4096);
	expect_size("1KiB", 1024);
	expect_size("2MB", 2u << 20);
	expect_size("10B", 10);
	expect_size("1T", (size_t)1 << 40);
	expect_size("17179869183G", (size_t)17179869183 << 30);
	for (i = 0; bad[i]; i++)
		if (cli_parse_size(bad[i], &got) != -EINVAL)
			fail_msg("'%s' accepted as a size", bad[i]);
	assert_int_equal(cli_parse_size(NULL, &got), -EINVAL);
	assert_int_equal(got, 7);
}

static void expect_duration(const char *text, int64_t want)
{
	int64_t got = -1;

	if (cli_parse_duration(text, &got) != 0)
		fail_msg("'%s': expected %lld ns, refused", text, (long long)want);
	if (got != want)
		fail_msg("'%s': expected %lld ns, got %lld", text, (long long)want, (long long)got);
}

static void test_parse_duration(void **state)
{
	static const char *const bad[] = { "", "x", "-1", "+1", " 1", "5x", "1.5h", "10ms",
		"1sm", "9223372037", "106752d", "99999999999999999999", NULL };
	int64_t got = 42;
	size_t i;

	expect_duration("0", 0);
	expect_duration("90", 90 * S);
	expect_duration("90s", 90 * S);
	expect_duration("10m", 600 * S);
	expect_duration("2h", 7200 * S);
	expect_duration("1d", 86400 * S);
	expect_duration("9223372036", 9223372036LL * S);
	expect_duration("106751d", 106751LL * 86400 * S);
	for (i = 0; bad[i]; i++)
		if (cli_parse_duration(bad[i], &got) != -EINVAL)
			fail_msg("'%s' accepted as a duration", bad[i]);
	assert_int_equal(cli_parse_duration(NULL, &got), -EINVAL);
	assert_int_equal(got, 42);
}

static void test_instants(void **state)
{
	char buf[64];
	int64_t ts;

	cli_format_at(1764649987123456789LL, buf, sizeof(buf));
	assert_string_equal(buf, "@1764649987.123456789");
	cli_format_at(5, buf, sizeof(buf));
	assert_string_equal(buf, "@0.000000005");
	/* what cli_format_at writes, TIME reads back to the nanosecond */
	assert_int_equal(cdp_time_parse("@1764649987.123456789", 0, &ts), 0);
	assert_int_equal(ts, 1764649987123456789LL);
	assert_int_equal(cli_resolve_time("@1764649987.5", 0), 1764649987500000000LL);
	assert_int_equal(cli_resolve_time("latest", 1234567), 1234567);
	assert_int_equal(cli_resolve_time("-10s", 100 * S), 90 * S);

	cli_format_seconds(12345678901LL, buf, sizeof(buf));
	assert_string_equal(buf, "12.3 s");
	cli_format_seconds(0, buf, sizeof(buf));
	assert_string_equal(buf, "0.0 s");

	setenv("TZ", "UTC", 1);
	tzset();
	cli_time_local(1764678787LL * S + 999, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-02 12:33:07");
	cli_time_local(0, buf, sizeof(buf));
	assert_string_equal(buf, "-");
}

static void resolve_bad_time(void *arg)
{
	cli_resolve_time(arg, 0);
}

static void test_resolve_time_dies(void **state)
{
	struct child_run r;

	run_child(resolve_bad_time, (void *)"yesterday", &r);
	assert_int_equal(r.status, 1);
	assert_string_equal(r.err, "cdpfs: bad time 'yesterday' (expected e.g. "
			    "2025-12-02T12:33:07, '2025-12-02 12:33:07.250', +08:00 or Z, "
			    "@1764649987, latest, -10m, -2h, -1d)\n");
}

/* ------------------------------------------------------ UTF-8, JSON */

static void test_utf8_len(void **state)
{
	static const struct {
		const char *bytes;
		size_t avail, want;
	} cases[] = {
		{ "A", 1, 1 },
		{ "\xc3\xa9", 2, 2 },             /* é */
		{ "\xc2\x80", 2, 2 },             /* U+0080, the smallest of 2 */
		{ "\xc0\x80", 2, 0 },             /* overlong NUL */
		{ "\xc1\xbf", 2, 0 },             /* overlong */
		{ "\xe0\x80\x80", 3, 0 },         /* overlong of 3 */
		{ "\xe0\xa0\x80", 3, 3 },         /* U+0800 */
		{ "\xe2\x82\xac", 3, 3 },         /* € */
		{ "\xe2\x82\xac", 2, 0 },         /* cut short */
		{ "\xe2\x82\x41", 3, 0 },         /* not a continuation byte */
		{ "\xed\x9f\xbf", 3, 3 },         /* U+D7FF */
		{ "\xed\xa0\x80", 3, 0 },         /* surrogate U+D800 */
		{ "\xef\xbf\xbf", 3, 3 },         /* U+FFFF */
		{ "\xf0\x80\x80\x80", 4, 0 },     /* overlong of 4 */
		{ "\xf0\x90\x80\x80", 4, 4 },     /* U+10000 */
		{ "\xf4\x8f\xbf\xbf", 4, 4 },     /* U+10FFFF */
		{ "\xf4\x90\x80\x80", 4, 0 },     /* past U+10FFFF */
		{ "\xf5\x80\x80\x80", 4, 0 },
		{ "\x80", 1, 0 },                 /* a lone continuation byte */
		{ "\xff", 1, 0 },
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t got = cli_utf8_len((const unsigned char *)cases[i].bytes, cases[i].avail);

		if (got != cases[i].want)
			fail_msg("case %zu: expected %zu, got %zu", i, cases[i].want, got);
	}
}

static void expect_json(const char *s, const char *want)
{
	struct memout m;

	memout_open(&m);
	cli_json_string(m.f, s);
	if (strcmp(memout_text(&m), want) != 0)
		fail_msg("expected %s, got %s", want, m.buf);
	memout_close(&m);
}

static void test_json_string(void **state)
{
	struct memout m;

	expect_json("plain", "\"plain\"");
	expect_json("", "\"\"");
	expect_json(NULL, "\"\"");
	expect_json("a\"b\\c", "\"a\\\"b\\\\c\"");
	expect_json("l1\nl2\tx", "\"l1\\nl2\\tx\"");
	expect_json("\x01\x1f\x7f", "\"\\u0001\\u001f\\u007f\"");
	expect_json("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
	/* not UTF-8: one U+FFFD per byte that starts no valid sequence */
	expect_json("caf\xe9!", "\"caf\\ufffd!\"");
	expect_json("\xed\xa0\x80", "\"\\ufffd\\ufffd\\ufffd\"");
	expect_json("\xe2\x82", "\"\\ufffd\\ufffd\"");
	/* JavaScript's line terminators */
	expect_json("a\xe2\x80\xa8" "b\xe2\x80\xa9", "\"a\\u2028b\\u2029\"");

	memout_open(&m);
	cli_json_string_or_null(m.f, NULL);
	fputc(' ', m.f);
	cli_json_string_or_null(m.f, "");
	fputc(' ', m.f);
	cli_json_string_or_null(m.f, "x");
	assert_string_equal(memout_text(&m), "null null \"x\"");
	memout_close(&m);
}

static void test_json_time(void **state)
{
	struct memout m;
	char iso[64], want[160];

	setenv("TZ", "UTC", 1);
	tzset();
	memout_open(&m);
	cli_json_time(m.f, "first", 0, ", ");
	assert_string_equal(memout_text(&m), "\"first\": null, \"first_ns\": 0");
	memout_close(&m);

	memout_open(&m);
	cli_json_time(m.f, "to", 1764678787LL * S + 250000000, ",\n  ");
	cdp_time_format(1764678787LL * S + 250000000, iso, sizeof(iso));
	snprintf(want, sizeof(want), "\"to\": \"%s\",\n  \"to_ns\": 1764678787250000000", iso);
	assert_string_equal(memout_text(&m), want);
	assert_non_null(strstr(iso, "2025-12-02T12:33:07.25"));
	memout_close(&m);
}

/* -------------------------------------------------------- escaping */

static void expect_manifest_escape(const char *s, size_t len, const char *want)
{
	char out[256];
	size_t n = cli_manifest_escape(s, len, out);

	if (strcmp(out, want) != 0 || n != strlen(want))
		fail_msg("expected '%s', got '%s' (%zu)", want, out, n);
}

static void test_manifest_escape(void **state)
{
	expect_manifest_escape("", 0, "");
	expect_manifest_escape("/data/pg-13/base_1.~x", 21, "/data/pg-13/base_1.~x");
	expect_manifest_escape("a b", 3, "a%20b");
	expect_manifest_escape("%,=", 3, "%25%2C%3D");
	expect_manifest_escape("\t\n\x7f\x80\xff", 5, "%09%0A%7F%80%FF");
	expect_manifest_escape("a\0b", 3, "a%00b");
	expect_manifest_escape("caf\xc3\xa9", 5, "caf%C3%A9");
	/* the worst case takes three bytes a byte */
	expect_manifest_escape("   ", 3, "%20%20%20");
}

static void test_opt_escape(void **state)
{
	char out[64];

	assert_int_equal(cli_opt_escape("/var/log/x.log", out, sizeof(out)), 14);
	assert_string_equal(out, "/var/log/x.log");
	assert_int_equal(cli_opt_escape("a,b\\c", out, sizeof(out)), 7);
	assert_string_equal(out, "a\\,b\\\\c");
	/* cut while fewer than 3 bytes are left, never inside a pair */
	assert_int_equal(cli_opt_escape("abcdef", out, 4), 2);
	assert_string_equal(out, "ab");
	assert_int_equal(cli_opt_escape(",,,", out, 5), 4);
	assert_string_equal(out, "\\,\\,");
	assert_int_equal(cli_opt_escape("", out, sizeof(out)), 0);
	assert_string_equal(out, "");
}

/* ------------------------------------------------------ drill index */

static void test_drill_index_parse(void **state)
{
	struct drill_index_row r;
	char line[1024], longid[300];

	snprintf(line, sizeof(line), "20261201T203455Z-db01-3fa9\tdb01\t1764678787000000000\t"
		 "1764678786500000000\t42\tpass\t1234\t1764678790000000000\t%064d\n", 0);
	assert_int_equal(drill_index_parse_line(line, &r), 0);
	assert_string_equal(r.id, "20261201T203455Z-db01-3fa9");
	assert_string_equal(r.host, "db01");
	assert_int_equal(r.requested_ns, 1764678787000000000LL);
	assert_int_equal(r.mounted_ns, 1764678786500000000LL);
	assert_int_equal(r.seq, 42);
	assert_string_equal(r.result, "pass");
	assert_int_equal(r.duration_ms, 1234);
	assert_int_equal(r.started_ns, 1764678790000000000LL);

	/* a failed mount: mounted 0, no manifest */
	snprintf(line, sizeof(line), "id\th\t5\t0\t0\terror\t7\t3\t-");
	assert_int_equal(drill_index_parse_line(line, &r), 0);
	assert_int_equal(r.mounted_ns, 0);
	assert_string_equal(r.result, "error");

	/* fewer than nine fields: skipped by --list */
	snprintf(line, sizeof(line), "id\th\t5\t0\t0\tpass\t7\t3\n");
	assert_int_equal(drill_index_parse_line(line, &r), -EINVAL);
	snprintf(line, sizeof(line), "\n");
	assert_int_equal(drill_index_parse_line(line, &r), -EINVAL);
	snprintf(line, sizeof(line), "%s", DRILL_INDEX_HEADER);
	assert_int_equal(drill_index_parse_line(line, &r), -EINVAL);

	/* fields longer than the row keeps are cut */
	memset(longid, 'x', 200);
	longid[200] = '\0';
	snprintf(line, sizeof(line), "%s\th\t1\t1\t1\tinterrupted-and-more\t1\t1\t-", longid);
	assert_int_equal(drill_index_parse_line(line, &r), 0);
	assert_int_equal(strlen(r.id), sizeof(r.id) - 1);
	assert_int_equal(strlen(r.result), sizeof(r.result) - 1);
}

/* -------------------------------------------------- status facts */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void test_status_facts(void **state)
{
	char dir[] = "/tmp/cdpfs-test-status.XXXXXX", path[PATH_MAX], id[128];
	struct status_verify v;
	int64_t before = cdp_now_ns(), started;

	assert_non_null(mkdtemp(dir));
	/* never verified, never drilled */
	assert_int_equal(status_verify_last(dir, &v), -ENOENT);
	assert_int_equal(status_drill_last_pass(dir, "db01", &started, id, sizeof(id)), -ENOENT);

	/* a verify recorded reads back; the next one replaces it */
	assert_int_equal(status_verify_record(dir, NULL, 1, 0), 0);
	assert_int_equal(status_verify_last(dir, &v), 0);
	assert_true(v.finished_ns >= before && v.finished_ns <= cdp_now_ns());
	assert_int_equal(v.data, 1);
	assert_int_equal(v.problems, 0);
	assert_string_equal(v.host, "");
	assert_int_equal(status_verify_record(dir, "db01", 0, 3), 0);
	assert_int_equal(status_verify_last(dir, &v), 0);
	assert_int_equal(v.data, 0);
	assert_int_equal(v.problems, 3);
	assert_string_equal(v.host, "db01");
	snprintf(path, sizeof(path), "%s/verify/last.tmp", dir);
	assert_int_equal(access(path, F_OK), -1);
	/* a file of another version, or cut short, is not read */
	snprintf(path, sizeof(path), "%s/verify/last", dir);
	write_file(path, "cdpfs verify last 2\n1\t0\t0\t-\n");
	assert_int_equal(status_verify_last(dir, &v), -EINVAL);
	write_file(path, "cdpfs verify last 1\n1764678790000000000\t1\n");
	assert_int_equal(status_verify_last(dir, &v), -EINVAL);

	/* the newest passing drill of the host, whatever came after it */
	snprintf(path, sizeof(path), "%s/drills", dir);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/drills/index", dir);
	write_file(path, DRILL_INDEX_HEADER "\n"
		   "d1\tdb01\t1\t1\t1\tpass\t5\t100\t-\n"
		   "d2\tdb01\t1\t1\t1\tpass\t5\t200\t-\n"
		   "d3\tweb01\t1\t1\t1\tpass\t5\t300\t-\n"
		   "d4\tdb01\t1\t1\t1\tfail\t5\t400\t-\n"
		   "short line\n");
	assert_int_equal(status_drill_last_pass(dir, "db01", &started, id, sizeof(id)), 0);
	assert_string_equal(id, "d2");
	assert_int_equal(started, 200);
	assert_int_equal(status_drill_last_pass(dir, "db02", &started, id, sizeof(id)), -ENOENT);
	write_file(path, "not an index\n");
	assert_int_equal(status_drill_last_pass(dir, "db01", &started, id, sizeof(id)), -EINVAL);

	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

/* ------------------------------------------------ processes, mounts */

static void test_proc(void **state)
{
	char st = '?';
	pid_t pgrp = 0, pid;
	int i, ret;

	assert_int_equal(cli_proc_stat(getpid(), &st, &pgrp), 0);
	assert_int_equal(st, 'R');
	assert_int_equal(pgrp, getpgrp());

	/* a zombie reads as 'Z', and a reaped process is gone */
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	for (i = 0; i < 400; i++) {
		if (cli_proc_stat(pid, &st, NULL) == 0 && st == 'Z')
			break;
		usleep(5000);
	}
	assert_int_equal(st, 'Z');
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	ret = cli_proc_stat(pid, &st, NULL);
	assert_int_equal(ret, -ENOENT);
}

static void test_mount_point(void **state)
{
	char dir[] = "/tmp/cdpfs-test-cli-XXXXXX", missing[64];

	assert_non_null(mkdtemp(dir));
	assert_int_equal(cli_is_mount_point("/"), 1);
	assert_int_equal(cli_is_mount_point("/proc"), 1);
	assert_int_equal(cli_is_mount_point(dir), 0);
	snprintf(missing, sizeof(missing), "%s/missing", dir);
	assert_int_equal(cli_is_mount_point(missing), -ENOENT);
	rmdir(dir);
}

/* ------------------------------------------------------------- store */

static int noop_verb(struct cli_ctx *ctx)
{
	return 0;
}

static const struct cli_cmd store_verb = { "s", noop_verb, "s", "a verb with a store", NULL,
					   CLI_NEEDS_STORE, NULL };

static void test_store_path(void **state)
{
	char *argv[] = { NULL };
	char cwd[PATH_MAX], want[PATH_MAX + 16];
	struct cli_ctx ctx;
	const char *p;

	assert_non_null(getcwd(cwd, sizeof(cwd)));
	cli_ctx_init(&ctx, &store_verb, 0, argv);
	ctx.store_opt = "rel/store";
	p = cli_store_path(&ctx);
	snprintf(want, sizeof(want), "%s/rel/store", strcmp(cwd, "/") ? cwd : "");
	assert_string_equal(p, want);
	/* asked once, the same answer */
	assert_ptr_equal(cli_store_path(&ctx), p);
	cli_ctx_release(&ctx);

	setenv("CDPFS_STORE", "/env/store", 1);
	cli_ctx_init(&ctx, &store_verb, 0, argv);
	ctx.store_opt = "";          /* an empty --store is none */
	assert_string_equal(cli_store_path(&ctx), "/env/store");
	cli_ctx_release(&ctx);

	setenv("CDPFS_STORE", "", 1);
	cli_ctx_init(&ctx, &store_verb, 0, argv);
	assert_string_equal(cli_store_path(&ctx), CDP_DEFAULT_STORE);
	cli_ctx_release(&ctx);
	unsetenv("CDPFS_STORE");

	cli_ctx_init(&ctx, &store_verb, 0, argv);
	ctx.store_opt = "/abs/store";
	assert_string_equal(cli_store_path(&ctx), "/abs/store");
	cli_ctx_release(&ctx);
}

static void test_store_open_messages(void **state)
{
	char dir[] = "/tmp/cdpfs-test-cli-XXXXXX", path[128], err[512], want[512];
	struct cdp_store *s = (struct cdp_store *)1;
	FILE *f;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_true(cli_store_open(path, &s, err, sizeof(err)) < 0);
	assert_null(s);
	snprintf(want, sizeof(want), "no store at '%s' (nothing captured yet; name the store "
		 "with --store or CDPFS_STORE)", path);
	assert_string_equal(err, want);

	snprintf(path, sizeof(path), "%s/file", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fclose(f);
	assert_true(cli_store_open(path, &s, err, sizeof(err)) < 0);
	snprintf(want, sizeof(want), "'%s' is not a store (not a directory); name the store "
		 "with --store or CDPFS_STORE", path);
	assert_string_equal(err, want);
	unlink(path);
	rmdir(dir);
}

/* --------------------------------------------------- options, help */

enum { T_NAME = 256 };

static const struct cli_option t_options[] = {
	{ NULL, 0, 0, "ARG", "an operand" },
	{ "name", required_argument, T_NAME, "--name NAME", "a value\nsecond line" },
	{ "flag", no_argument, 'f', "-f, --flag", "a flag" },
	{ "opt", required_argument, 'o', "-o OPT", "a short one" },
	CLI_OPT_JSON("as JSON"),
	{ NULL, 0, 0, NULL, "A line as it is." },
	CLI_OPT_END
};

static const struct cli_cmd t_cmd = { "t", noop_verb, "t [--store DIR] [--json] ARG",
				      "a test verb", t_options, CLI_NEEDS_STORE | CLI_JSON, NULL };

/* A verb without --store and --json, which must refuse them. */
static const struct cli_cmd bare_cmd = { "bare", noop_verb, "bare [-f]", "a bare verb",
					 t_options + 2, 0, NULL };

struct parse_result {
	int ids[16];
	char vals[16][32];
	int n;
};

static void parse(const struct cli_cmd *cmd, const char *const *words, struct cli_ctx *ctx,
		  char ***argvp, struct parse_result *p)
{
	const char *val;
	int argc, c;

	*argvp = make_argv(words, &argc);
	cli_ctx_init(ctx, cmd, argc, *argvp);
	p->n = 0;
	while ((c = cli_getopt(ctx, &val)) != -1) {
		assert_true(p->n < 16);
		p->ids[p->n] = c;
		snprintf(p->vals[p->n], sizeof(p->vals[0]), "%s", val ? val : "(none)");
		p->n++;
	}
}

static void test_getopt(void **state)
{
	static const char *const w1[] = { "t", "--name", "n1", "ARG1", "-fo", "v1", "--store",
		"/s", "--opt=v2", "--json", "ARG2", "--fl", NULL };
	static const char *const w2[] = { "t", "--name", "--json", "--", "--flag", "-x", NULL };
	static const char *const w3[] = { "t", "--store=/a", "--store", "/b", "-ov3", NULL };
	struct parse_result p;
	struct cli_ctx ctx;
	char **argv;

	/* in order, values attached or not, operands permuted to the end, an
	 * abbreviation, the shared options taken on the way */
	parse(&t_cmd, w1, &ctx, &argv, &p);
	assert_int_equal(p.n, 5);
	assert_int_equal(p.ids[0], T_NAME);
	assert_string_equal(p.vals[0], "n1");
	assert_int_equal(p.ids[1], 'f');
	assert_string_equal(p.vals[1], "(none)");
	assert_int_equal(p.ids[2], 'o');
	assert_string_equal(p.vals[2], "v1");
	assert_int_equal(p.ids[3], 'o');
	assert_string_equal(p.vals[3], "v2");
	assert_int_equal(p.ids[4], 'f');
	assert_int_equal(ctx.json, 1);
	assert_string_equal(ctx.store_opt, "/s");
	assert_int_equal(ctx.nargs, 2);
	assert_string_equal(ctx.args[0], "ARG1");
	assert_string_equal(ctx.args[1], "ARG2");
	cli_ctx_release(&ctx);
	free_argv(argv);

	/* a value that looks like an option is a value; after "--" nothing is
	 * an option */
	parse(&t_cmd, w2, &ctx, &argv, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.vals[0], "--json");
	assert_int_equal(ctx.json, 0);
	assert_int_equal(ctx.nargs, 2);
	assert_string_equal(ctx.args[0], "--flag");
	assert_string_equal(ctx.args[1], "-x");
	cli_ctx_release(&ctx);
	free_argv(argv);

	/* the last --store wins */
	parse(&t_cmd, w3, &ctx, &argv, &p);
	assert_int_equal(p.n, 1);
	assert_string_equal(p.vals[0], "v3");
	assert_string_equal(ctx.store_opt, "/b");
	assert_int_equal(ctx.nargs, 0);
	cli_ctx_release(&ctx);
	free_argv(argv);
}

struct parse_case {
	const struct cli_cmd *cmd;
	const char *const *words;
};

static void parse_in_child(void *arg)
{
	const struct parse_case *pc = arg;
	struct parse_result p;
	struct cli_ctx ctx;
	char **argv;

	parse(pc->cmd, pc->words, &ctx, &argv, &p);
	printf("parsed %d\n", p.n);
	exit(0);
}

static void expect_parse_exit(const struct cli_cmd *cmd, const char *const *words, int status,
			      const char *out_prefix, const char *err)
{
	struct parse_case pc = { cmd, words };
	struct child_run r;

	run_child(parse_in_child, &pc, &r);
	if (r.status != status)
		fail_msg("%s ...: exit %d, expected %d (stderr: %s)", words[1] ? words[1] : "",
			 r.status, status, r.err);
	if (strncmp(r.out, out_prefix, strlen(out_prefix)) != 0)
		fail_msg("stdout '%s', expected it to start '%s'", r.out, out_prefix);
	if (strcmp(r.err, err) != 0)
		fail_msg("stderr '%s', expected '%s'", r.err, err);
}

static void test_getopt_errors(void **state)
{
	static const char *const unknown_long[] = { "t", "--bogus", NULL };
	static const char *const unknown_short[] = { "t", "-fx", NULL };
	static const char *const missing_long[] = { "t", "ARG", "--name", NULL };
	static const char *const missing_short[] = { "t", "ARG", "-fo", NULL };
	static const char *const missing_store[] = { "t", "--store", NULL };
	static const char *const value_not_taken[] = { "t", "--json=1", NULL };
	static const char *const abbreviated[] = { "t", "--n", NULL };
	static const char *const ambiguous[] = { "capture", "--no", "/d", NULL };
	static const char *const bare_json[] = { "bare", "--json", NULL };
	static const char *const bare_store[] = { "bare", "--store", "/s", NULL };
	static const char *const help[] = { "t", "ARG", "--help", "--bogus", NULL };
	static const char *const help_short[] = { "bare", "-h", NULL };
	static const char *const fine[] = { "bare", "-f", "x", NULL };

	expect_parse_exit(&t_cmd, unknown_long, 2, "",
			  "cdpfs: unknown option '--bogus' (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, unknown_short, 2, "",
			  "cdpfs: unknown option '-x' (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, missing_long, 2, "",
			  "cdpfs: option '--name' needs a value (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, missing_short, 2, "",
			  "cdpfs: option '-o' needs a value (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, missing_store, 2, "",
			  "cdpfs: option '--store' needs a value (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, value_not_taken, 2, "",
			  "cdpfs: unknown option '--json=1' (see 'cdpfs t --help')\n");
	expect_parse_exit(&t_cmd, abbreviated, 2, "",
			  "cdpfs: option '--n' needs a value (see 'cdpfs t --help')\n");
	/* --no-journal or --no-progress */
	expect_parse_exit(&cli_cmd_capture, ambiguous, 2, "",
			  "cdpfs: unknown option '--no' (see 'cdpfs capture --help')\n");
	expect_parse_exit(&bare_cmd, bare_json, 2, "",
			  "cdpfs: unknown option '--json' (see 'cdpfs bare --help')\n");
	expect_parse_exit(&bare_cmd, bare_store, 2, "",
			  "cdpfs: unknown option '--store' (see 'cdpfs bare --help')\n");
	/* --help answers where it stands, whatever follows */
	expect_parse_exit(&t_cmd, help, 0, "usage: cdpfs t [--store DIR] [--json] ARG\n", "");
	expect_parse_exit(&bare_cmd, help_short, 0, "usage: cdpfs bare [-f]\n", "");
	expect_parse_exit(&bare_cmd, fine, 0, "parsed 1\n", "");
}

static void usage_in_child(void *arg)
{
	cli_usage(arg, stdout, 0);
}

static void test_usage(void **state)
{
	struct child_run r;

	run_child(usage_in_child, (void *)&t_cmd, &r);
	assert_int_equal(r.status, 0);
	assert_string_equal(r.out,
		"usage: cdpfs t [--store DIR] [--json] ARG\n"
		"\n"
		"a test verb.\n"
		"\n"
		"  ARG                an operand\n"
		"  --store DIR        store directory (default $CDPFS_STORE or " CDP_DEFAULT_STORE ")\n"
		"  --name NAME        a value\n"
		"                     second line\n"
		"  -f, --flag         a flag\n"
		"  -o OPT             a short one\n"
		"  --json             as JSON\n"
		"A line as it is.\n");

	/* no --store, and the --json row of a verb without CLI_JSON is left out */
	run_child(usage_in_child, (void *)&bare_cmd, &r);
	assert_string_equal(r.out,
		"usage: cdpfs bare [-f]\n"
		"\n"
		"a bare verb.\n"
		"\n"
		"  -f, --flag         a flag\n"
		"  -o OPT             a short one\n"
		"A line as it is.\n");

	/* no rows: no blank line either */
	run_child(usage_in_child, (void *)&(struct cli_cmd){ "v", noop_verb, "v", "just this",
		  NULL, 0, NULL }, &r);
	assert_string_equal(r.out, "usage: cdpfs v\n\njust this.\n");
}

/* The verbs' own tables: what the dispatcher and the help rely on. */
static void test_verb_tables(void **state)
{
	const struct cli_cmd *const verbs[] = { &cli_cmd_capture, &cli_cmd_mount,
		&cli_cmd_umount, &cli_cmd_hosts, &cli_cmd_overlay, &cli_cmd_drill,
		&cli_cmd_bisect };
	size_t v;

	for (v = 0; v < sizeof(verbs) / sizeof(verbs[0]); v++) {
		const struct cli_cmd *c = verbs[v];
		const struct cli_option *o, *p;
		int json_rows = 0, options_seen = 0;

		assert_non_null(c->fn);
		assert_non_null(c->usage);
		assert_int_equal(strncmp(c->usage, c->name, strlen(c->name)), 0);
		assert_non_null(c->summary);
		assert_true(c->summary[strlen(c->summary) - 1] != '.');
		/* --store in the usage line exactly when the verb takes it */
		assert_int_equal(strstr(c->usage, "--store DIR") != NULL,
				 (c->flags & CLI_NEEDS_STORE) != 0);
		assert_int_equal(strstr(c->usage, "--json") != NULL, (c->flags & CLI_JSON) != 0);
		for (o = c->options; o && (o->name || o->label || o->help); o++) {
			json_rows += o->id == CLI_OPT_ID_JSON;
			if (o->label && strlen(o->label) > 18)
				fail_msg("%s: option label '%s' is longer than the help's 18 "
					 "columns", c->name, o->label);
			if (!o->name) {
				/* operands come before every option */
				if (o->id == 0 && o->label && options_seen)
					fail_msg("%s: operand row '%s' after an option", c->name,
						 o->label);
				continue;
			}
			options_seen = 1;
			assert_non_null(o->label);
			assert_true(strcmp(o->name, "store") && strcmp(o->name, "json") &&
				    strcmp(o->name, "help"));
			assert_true(o->id != 'h' && o->id < CLI_OPT_ID_STORE &&
				    (o->id >= 256 || (o->id >= 'a' && o->id <= 'z')));
			for (p = c->options; p < o; p++)
				if (p->name && (p->id == o->id || strcmp(p->name, o->name) == 0))
					fail_msg("%s: option '%s' twice", c->name, o->name);
		}
		/* one --json row exactly when the verb takes --json */
		assert_int_equal(json_rows, (c->flags & CLI_JSON) ? 1 : 0);
	}
}

/* cli_run_collect(): the streams asked for, the rest of a long output
 * read and dropped, env added, exit statuses. */
static void test_run_collect(void **state)
{
	static const char *const env[] = { "CDP_TEST_RUN=yes", NULL };
	char *out_err[] = { (char *)"sh", (char *)"-c",
			    (char *)"echo out; echo err >&2; echo $CDP_TEST_RUN", NULL };
	char *lots[] = { (char *)"sh", (char *)"-c",
			 (char *)"i=0; while [ $i -lt 2000 ]; do echo 0123456789; i=$((i+1)); done",
			 NULL };
	char *err_only[] = { (char *)"sh", (char *)"-c", (char *)"echo err >&2", NULL };
	char *killed[] = { (char *)"sh", (char *)"-c", (char *)"kill -9 $$", NULL };
	char *none[] = { (char *)"cdp-no-such-program-here", NULL };
	char out[64], small[8];

	assert_int_equal(cli_run_collect(NULL, out_err, env, CLI_RUN_STDOUT | CLI_RUN_STDERR,
					 out, sizeof(out)), 0);
	assert_string_equal(out, "out\nerr\nyes\n");
	assert_int_equal(cli_run_collect("/bin/sh", err_only, NULL,
					 CLI_RUN_STDERR | CLI_RUN_NULL_STDIN | CLI_RUN_OWN_GROUP,
					 out, sizeof(out)), 0);
	assert_string_equal(out, "err\n");
	assert_int_equal(cli_run_collect(NULL, lots, NULL, CLI_RUN_STDOUT, small, sizeof(small)),
			 0);
	assert_string_equal(small, "0123456");
	assert_int_equal(cli_run_collect(NULL, killed, NULL, CLI_RUN_STDOUT, out, sizeof(out)),
			 128 + SIGKILL);
	assert_int_equal(cli_run_collect(NULL, none, NULL, CLI_RUN_STDOUT, out, sizeof(out)), 127);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_size),
		cmocka_unit_test(test_parse_duration),
		cmocka_unit_test(test_instants),
		cmocka_unit_test(test_resolve_time_dies),
		cmocka_unit_test(test_utf8_len),
		cmocka_unit_test(test_json_string),
		cmocka_unit_test(test_json_time),
		cmocka_unit_test(test_manifest_escape),
		cmocka_unit_test(test_opt_escape),
		cmocka_unit_test(test_drill_index_parse),
		cmocka_unit_test(test_status_facts),
		cmocka_unit_test(test_proc),
		cmocka_unit_test(test_run_collect),
		cmocka_unit_test(test_mount_point),
		cmocka_unit_test(test_store_path),
		cmocka_unit_test(test_store_open_messages),
		cmocka_unit_test(test_getopt),
		cmocka_unit_test(test_getopt_errors),
		cmocka_unit_test(test_usage),
		cmocka_unit_test(test_verb_tables),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
