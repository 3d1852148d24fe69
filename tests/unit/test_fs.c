/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_fs.c - unit tests of the time-travel mount's pure logic: SPEC
 * parsing (HOST@TIME, HOST:/DIR@TIME, '@' inside DIR and Unix times), the
 * -o options (known, mount(8) noise, VFS flags, rejects), the kernel's
 * option string (append, escape) and cdp_fs_attr_to_stat().
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fs/fs.h"
#include "fs/fs_int.h"

static void expect_spec(const char *spec, const char *host, const char *path,
			const char *time_text)
{
	char err[256] = "", *h, *p, *t;
	int ret = cdp_fs_parse_spec(spec, &h, &p, &t, err, sizeof(err));

	if (ret)
		fail_msg("'%s': %s", spec, err);
	assert_string_equal(h, host);
	if (path)
		assert_string_equal(p, path);
	else
		assert_null(p);
	assert_string_equal(t, time_text);
	free(h);
	free(p);
	free(t);
}

static void expect_bad_spec(const char *spec, const char *msg_part)
{
	char err[256] = "", *h = (char *)"x", *p = (char *)"x", *t = (char *)"x";

	assert_int_equal(cdp_fs_parse_spec(spec, &h, &p, &t, err, sizeof(err)), -EINVAL);
	assert_null(h);
	assert_null(p);
	assert_null(t);
	if (!strstr(err, msg_part))
		fail_msg("'%s': '%s' does not say '%s'", spec ? spec : "(null)", err, msg_part);
}

static void test_spec_forms(void **state)
{
	(void)state;
	expect_spec("db01@latest", "db01", NULL, "latest");
	expect_spec("db01@@1764649987", "db01", NULL, "@1764649987");
	expect_spec("db01@2025-12-02T12:33:07", "db01", NULL, "2025-12-02T12:33:07");
	expect_spec("web-1.example_x@-10m", "web-1.example_x", NULL, "-10m");
	expect_spec("db01:/data/pg@latest", "db01", "/data/pg", "latest");
	expect_spec("db01:/data/pg/@latest", "db01", "/data/pg", "latest");
	expect_spec("db01:/@latest", "db01", "/", "latest");
	expect_spec("db01:/a@b@latest", "db01", "/a@b", "latest");
	expect_spec("db01:/a@b@@1764649987", "db01", "/a@b", "@1764649987");
}

static void test_spec_rejects(void **state)
{
	(void)state;
	expect_bad_spec(NULL, "empty SPEC");
	expect_bad_spec("", "empty SPEC");
	expect_bad_spec("db01", "no time");
	expect_bad_spec("db01:/data", "no time");
	expect_bad_spec("db01:data@latest", "absolute path");
	expect_bad_spec("@latest", "not a host name");
	expect_bad_spec("db 01@latest", "not a host name");
	expect_bad_spec("db01@", "empty time");
	expect_bad_spec("db01:/x@", "empty time");
}

static void free_opts(struct cdp_fs_opts *o, char *vfs)
{
	free(o->store);
	free(o->log);
	free(o->overlay);
	free(o->overlay_dir);
	free(vfs);
}

static void test_options_known(void **state)
{
	struct cdp_fs_opts o = { .allow_other = -1 };
	char err[256] = "", *vfs = NULL;

	(void)state;
	assert_int_equal(cdp_fs_parse_options("store=/s,log=/l,rw,overlay=n1,overlay_dir=/d,"
					      "allow_other,debug", &o, &vfs, err, sizeof(err)), 0);
	assert_string_equal(o.store, "/s");
	assert_string_equal(o.log, "/l");
	assert_string_equal(o.overlay, "n1");
	assert_string_equal(o.overlay_dir, "/d");
	assert_int_equal(o.rw, 1);
	assert_int_equal(o.ro, 0);
	assert_int_equal(o.allow_other, 1);
	assert_int_equal(o.debug, 1);
	assert_null(vfs);
	free_opts(&o, vfs);

	memset(&o, 0, sizeof(o));
	o.allow_other = -1;
	assert_int_equal(cdp_fs_parse_options("rw,ro", &o, &vfs, err, sizeof(err)), 0);
	assert_int_equal(o.ro, 1);
	assert_int_equal(o.rw, 0);
	assert_int_equal(o.allow_other, -1);
	free_opts(&o, vfs);

	memset(&o, 0, sizeof(o));
	assert_int_equal(cdp_fs_parse_options(NULL, &o, &vfs, err, sizeof(err)), 0);
	assert_null(vfs);
	assert_int_equal(cdp_fs_parse_options("", &o, &vfs, err, sizeof(err)), 0);
	assert_null(vfs);
}

static void test_options_noise_and_vfs(void **state)
{
	struct cdp_fs_opts o = { .allow_other = -1 };
	char err[256] = "", *vfs = NULL;

	(void)state;
	assert_int_equal(cdp_fs_parse_options("defaults,noauto,_netdev,x-systemd.automount,"
					      "comment=x,nosuid,nodev,noatime", &o, &vfs, err,
					      sizeof(err)), 0);
	assert_string_equal(vfs, "nosuid,nodev,noatime");
	free_opts(&o, vfs);
}

static void expect_bad_options(const char *opts, const char *msg_part)
{
	struct cdp_fs_opts o = { .allow_other = -1 };
	char err[256] = "", *vfs = NULL;

	assert_int_equal(cdp_fs_parse_options(opts, &o, &vfs, err, sizeof(err)), -EINVAL);
	assert_null(vfs);
	if (!strstr(err, msg_part))
		fail_msg("'%s': '%s' does not say '%s'", opts, err, msg_part);
	free_opts(&o, vfs);
}

static void test_options_rejects(void **state)
{
	(void)state;
	expect_bad_options("ro,bogus,worse", "unknown mount option 'bogus'");
	expect_bad_options("overlay=n1", "needs a writable overlay");
	expect_bad_options("overlay_dir=/d", "needs a writable overlay");
	expect_bad_options("rw,overlay=.hidden", "bad overlay name '.hidden'");
}

static void test_opt_string(void **state)
{
	char buf[16] = "", esc[32];

	(void)state;
	assert_int_equal(cdp_fs_opt_append(buf, sizeof(buf), "ro"), 0);
	assert_int_equal(cdp_fs_opt_append(buf, sizeof(buf), "allow_other"), 0);
	assert_string_equal(buf, "ro,allow_other");
	assert_int_equal(cdp_fs_opt_append(buf, sizeof(buf), "x"), -ENAMETOOLONG);
	assert_string_equal(buf, "ro,allow_other");
	cdp_fs_opt_escape("fsname=a,b\\c", esc, sizeof(esc));
	assert_string_equal(esc, "fsname=a\\,b\\\\c");
	cdp_fs_opt_escape(",,,,,,", esc, 8);
	assert_true(strlen(esc) < 8);
}

static void test_attr_to_stat(void **state)
{
	struct cdp_fs fs;
	struct cdp_attr a;
	struct stat st;

	(void)state;
	memset(&fs, 0, sizeof(fs));
	fs.io_blksize = 4096;
	memset(&a, 0, sizeof(a));
	a.mode = S_IFREG | 0640;
	a.uid = 1000;
	a.gid = 100;
	a.nlink = 2;
	a.size = 5000;
	a.atime_ns = 1 * 1000000000LL + 5;
	a.mtime_ns = 2 * 1000000000LL + 6;
	a.ctime_ns = 3 * 1000000000LL + 7;
	a.blocks = 8;
	cdp_fs_attr_to_stat(&fs, 42, &a, &st);
	assert_int_equal(st.st_ino, 42);
	assert_int_equal(st.st_mode, S_IFREG | 0640);
	assert_int_equal(st.st_uid, 1000);
	assert_int_equal(st.st_gid, 100);
	assert_int_equal(st.st_nlink, 2);
	assert_int_equal(st.st_size, 5000);
	assert_int_equal(st.st_blksize, 4096);
	assert_int_equal(st.st_blocks, 8);   /* as recorded: holes stay holes */
	assert_int_equal(st.st_atim.tv_sec, 1);
	assert_int_equal(st.st_atim.tv_nsec, 5);
	assert_int_equal(st.st_mtim.tv_sec, 2);
	assert_int_equal(st.st_ctim.tv_nsec, 7);
	/* old records: the size in whole io_blksize blocks */
	a.blocks = CDP_BLOCKS_UNKNOWN;
	cdp_fs_attr_to_stat(&fs, 42, &a, &st);
	assert_int_equal(st.st_blocks, 2 * 4096 / 512);
	a.mode = S_IFCHR | 0600;
	a.rdev = 0x0501;
	cdp_fs_attr_to_stat(&fs, 43, &a, &st);
	assert_int_equal(st.st_blocks, 0);
	assert_int_equal(st.st_rdev, 0x0501);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_forms),
		cmocka_unit_test(test_spec_rejects),
		cmocka_unit_test(test_options_known),
		cmocka_unit_test(test_options_noise_and_vfs),
		cmocka_unit_test(test_options_rejects),
		cmocka_unit_test(test_opt_string),
		cmocka_unit_test(test_attr_to_stat),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
