/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_timespec.c - unit tests of cdp_time_parse() and cdp_time_format():
 * every accepted form, local and explicit zones (TZ is set per test so the
 * results do not depend on the machine), nanosecond fractions of 1 to 9
 * digits, relative times, and the rejects.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store.h"

#define S 1000000000LL
/* 2025-12-02T12:33:07Z */
#define T0 1764678787LL

static void set_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

static void expect_ts(const char *text, int64_t now, int64_t want)
{
	int64_t got = 0;
	int ret = cdp_time_parse(text, now, &got);

	if (ret)
		fail_msg("'%s': expected %lld, got error %s", text, (long long)want,
			 cdp_strerror(ret));
	if (got != want)
		fail_msg("'%s': expected %lld, got %lld (off by %lld ns)", text, (long long)want,
			 (long long)got, (long long)(got - want));
}

static void expect_bad(const char *text)
{
	int64_t got = 12345;
	int ret = cdp_time_parse(text, 0, &got);

	if (ret != -CDP_EBADTIME)
		fail_msg("'%s': expected CDP_EBADTIME, got %d (%lld)", text, ret, (long long)got);
}

static void test_utc_forms(void **state)
{
	set_tz("UTC");
	expect_ts("2025-12-02T12:33:07Z", 0, T0 * S);
	expect_ts("2025-12-02T12:33:07", 0, T0 * S);
	expect_ts("2025-12-02T12:33", 0, (T0 - 7) * S);
	expect_ts("2025-12-02 12:33:07", 0, T0 * S);
	expect_ts("2025-12-02", 0, (T0 - 12 * 3600 - 33 * 60 - 7) * S);
	expect_ts("2025-12-02 12:33:07.250", 0, T0 * S + 250000000);
	expect_ts("2025-12-02T12:33:07.1Z", 0, T0 * S + 100000000);
	expect_ts("2025-12-02T12:33:07.123456789Z", 0, T0 * S + 123456789);
	expect_ts("2025-12-02T12:33:07.000000001Z", 0, T0 * S + 1);
}

static void test_offsets(void **state)
{
	set_tz("UTC");
	expect_ts("2025-12-02T20:33:07+08:00", 0, T0 * S);
	expect_ts("2025-12-02T20:33:07+0800", 0, T0 * S);
	expect_ts("2025-12-02T20:33:07+08", 0, T0 * S);
	expect_ts("2025-12-02T07:03:07-0530", 0, T0 * S);
	expect_ts("2025-12-02T07:03:07.5-05:30", 0, T0 * S + 500000000);
	expect_ts("2025-12-02T12:33+00:00", 0, (T0 - 7) * S);
}

static void test_local_zone(void **state)
{
	/* Paris is UTC+1 in December, UTC+2 in July (DST via tm_isdst = -1) */
	set_tz("Europe/Paris");
	expect_ts("2025-12-02T13:33:07", 0, T0 * S);
	expect_ts("2025-07-01T14:00:00", 0, 1751371200LL * S);
	set_tz("Asia/Shanghai");
	expect_ts("2025-12-02 20:33:07.25", 0, T0 * S + 250000000);
	/* an explicit zone ignores the local one */
	expect_ts("2025-12-02T12:33:07Z", 0, T0 * S);
	set_tz("UTC");
}

static void test_epoch_relative_latest(void **state)
{
	int64_t now = 2000000000LL * S + 5, got;

	expect_ts("@1764678787", 0, T0 * S);
	expect_ts("@1764678787.5", 0, T0 * S + 500000000);
	expect_ts("@1764678787.123456789", 0, T0 * S + 123456789);
	expect_ts("@0", 0, 0);
	expect_ts("-30s", now, now - 30 * S);
	expect_ts("-10m", now, now - 600 * S);
	expect_ts("-2h", now, now - 7200 * S);
	expect_ts("-1d", now, now - 86400 * S);
	expect_ts("-0s", now, now);
	assert_int_equal(cdp_time_parse("latest", now, &got), 0);
	assert_true(got == CDP_TS_LATEST);
}

static void test_rejects(void **state)
{
	static const char *const bad[] = {
		"", "now", "Latest", "2025", "2025-12", "2025-13-01", "2025-00-10", "2025-02-29",
		"2025-12-32", "2025-12-02T24:00", "2025-12-02T12:60", "2025-12-02T12:33:60",
		"2025-12-02T12", "2025-12-02T12:3", "2025-12-02T12:33:07.", "2025-12-02T12:33:07.1234567890",
		"2025-12-02T12:33:07ZZ", "2025-12-02T12:33:07+", "2025-12-02T12:33:07+8",
		"2025-12-02T12:33:07+15:00", "2025-12-02T12:33:07+08:60", "2025-12-02T12:33:07 ",
		"2025/12/02", "25-12-02", "2025-12-02X12:33", "@", "@12a", "@1.", "@1.1234567890",
		"@-5", "-", "-30", "-30x", "-s", "-3.5h", "-30s ", "1969-12-31T23:59:59Z",
		"2025-12-02T12:33:07.12a", "2025-1-02", "2025-12-2",
		/* past what nanoseconds in an int64 hold (found by fuzz_time) */
		"@17646456789", "@99999999999", "9999-12-31T23:59:59Z", "2263-01-01T00:00Z",
		"-77777777m", "-30000d",
	};
	size_t i;

	set_tz("UTC");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		expect_bad(bad[i]);
	assert_int_equal(cdp_time_parse(NULL, 0, NULL), -CDP_EBADTIME);
	/* leap day of a leap year is fine */
	expect_ts("2024-02-29T00:00:00Z", 0, 1709164800LL * S);
}

static void test_format(void **state)
{
	char buf[64];
	int64_t back;

	set_tz("UTC");
	cdp_time_format(T0 * S + 250000000, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-02T12:33:07.250000000+00:00");
	set_tz("Asia/Kolkata");
	cdp_time_format(T0 * S + 1, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-02T18:03:07.000000001+05:30");
	/* the output parses back to the same instant */
	assert_int_equal(cdp_time_parse(buf, 0, &back), 0);
	assert_true(back == T0 * S + 1);
	set_tz("America/New_York");
	cdp_time_format(T0 * S, buf, sizeof(buf));
	assert_string_equal(buf, "2025-12-02T07:33:07.000000000-05:00");
	cdp_time_format(CDP_TS_LATEST, buf, sizeof(buf));
	assert_string_equal(buf, "latest");
	set_tz("UTC");
}

static void test_now(void **state)
{
	struct timespec t;
	int64_t a, b;

	a = cdp_now_ns();
	clock_gettime(CLOCK_REALTIME, &t);
	b = cdp_now_ns();
	assert_true(a <= b);
	assert_true((int64_t)t.tv_sec * S + t.tv_nsec >= a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc_forms),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_local_zone),
		cmocka_unit_test(test_epoch_relative_latest),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_now),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
