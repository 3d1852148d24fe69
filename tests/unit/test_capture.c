/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * test_capture.c - unit tests of the capture layer's pure logic: the node
 * table (one node per (ino, handle), lookup counts, the root node), the
 * stripe locks (ascending order, duplicates and zero inodes dropped, at
 * most CAP_MAX_LOCKS) and the control protocol's field escaping.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture_int.h"

static struct cap_root *root_new(void)
{
	struct cap_root *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	r->root_ino = 2;
	r->root_fh.type = 1;
	r->root_fh.len = 4;
	memcpy(r->root_fh.data, "root", 4);
	assert_int_equal(cap_root_init_tables(r), 0);
	return r;
}

static void root_free(struct cap_root *r)
{
	cap_root_free_tables(r);
	free(r);
}

static struct cap_handle handle(const char *bytes)
{
	struct cap_handle fh;

	memset(&fh, 0, sizeof(fh));
	fh.type = 1;
	fh.len = (unsigned)strlen(bytes);
	memcpy(fh.data, bytes, fh.len);
	return fh;
}

static void test_node_ref_same_and_other(void **state)
{
	struct cap_root *r = root_new();
	struct cap_handle a = handle("aaaa"), b = handle("bbbb");
	struct cap_node *n1, *n2, *n3;

	(void)state;
	n1 = cap_node_ref(r, 10, S_IFREG | 0644, &a);
	n2 = cap_node_ref(r, 10, S_IFREG | 0644, &a);
	assert_non_null(n1);
	assert_ptr_equal(n1, n2);
	assert_int_equal(n1->nlookup, 2);
	assert_int_equal(n1->type, S_IFREG);
	assert_int_equal(n1->fd, -1);
	/* same inode number, another handle: a reused inode, a new node */
	n3 = cap_node_ref(r, 10, S_IFDIR, &b);
	assert_non_null(n3);
	assert_ptr_not_equal(n1, n3);
	assert_true(n3->generation > n1->generation);
	assert_int_equal(r->nnodes, 2);
	assert_ptr_equal(cap_node_get(r, (fuse_ino_t)(uintptr_t)n3), n3);
	cap_node_forget(r, n1, 1);
	assert_int_equal(r->nnodes, 2);
	assert_int_equal(n1->nlookup, 1);
	cap_node_forget(r, n1, 1);
	assert_int_equal(r->nnodes, 1);
	cap_node_forget(r, n3, 1);
	assert_int_equal(r->nnodes, 0);
	root_free(r);
}

static void test_node_root(void **state)
{
	struct cap_root *r = root_new();
	struct cap_handle rh = handle("root"), other = handle("xxxx");

	(void)state;
	assert_ptr_equal(cap_node_get(r, FUSE_ROOT_ID), &r->root_node);
	assert_ptr_equal(cap_node_ref(r, 2, S_IFDIR, &rh), &r->root_node);
	assert_int_equal(r->root_node.nlookup, 2);
	/* the root is never freed by a forget */
	cap_node_forget(r, &r->root_node, 5);
	assert_int_equal(r->nnodes, 0);
	assert_ptr_not_equal(cap_node_ref(r, 2, S_IFDIR, &other), &r->root_node);
	root_free(r);
}

static void test_handle_equal_bytes(void **state)
{
	struct cap_handle a = handle("abcd"), b = handle("abcd"), c = handle("abce");
	struct cap_handle none = { .type = -1, .len = 0 };
	unsigned char out[4 + CAP_HANDLE_MAX];

	(void)state;
	assert_true(cap_handle_equal(&a, &b));
	assert_false(cap_handle_equal(&a, &c));
	assert_int_equal(cap_handle_bytes(&none, out), 0);
	assert_int_equal(cap_handle_bytes(&a, out), 4 + 4);
	assert_memory_equal(out + 4, "abcd", 4);
}

static void check_held(const unsigned *held, int nheld)
{
	int i;

	for (i = 1; i < nheld; i++)
		assert_true(held[i - 1] < held[i]);
}

static void test_lock_inos_order_dedup(void **state)
{
	struct cap_root *r = root_new();
	unsigned held[CAP_MAX_LOCKS];
	uint64_t inos[CAP_MAX_LOCKS] = { 1000, 7, 1000, 0 };
	uint64_t many[CAP_MAX_LOCKS] = { 11, 12, 13, 14 };
	int nheld = -1, i;

	(void)state;
	cap_lock_inos(r, inos, 4, held, &nheld);
	assert_int_equal(nheld, cap_stripe_of(1000) == cap_stripe_of(7) ? 1 : 2);
	check_held(held, nheld);
	for (i = 0; i < nheld; i++)   /* held: a second locker fails */
		assert_int_equal(pthread_mutex_trylock(&r->stripes[held[i]]), EBUSY);
	cap_unlock(r, held, nheld);
	for (i = 0; i < nheld; i++) {
		assert_int_equal(pthread_mutex_trylock(&r->stripes[held[i]]), 0);
		pthread_mutex_unlock(&r->stripes[held[i]]);
	}
	cap_lock_inos(r, many, 4, held, &nheld);
	assert_true(nheld >= 1 && nheld <= 4);
	check_held(held, nheld);
	cap_unlock(r, held, nheld);
	/* nothing to lock */
	inos[0] = inos[1] = inos[2] = 0;
	cap_lock_inos(r, inos, 3, held, &nheld);
	assert_int_equal(nheld, 0);
	root_free(r);
}

static void test_stripe_of_range(void **state)
{
	uint64_t ino;

	(void)state;
	for (ino = 1; ino < 100000; ino += 7)
		assert_true(cap_stripe_of(ino) < CAP_STRIPES);
	assert_true(cap_stripe_of(UINT64_MAX) < CAP_STRIPES);
}

static void test_field_escape_roundtrip(void **state)
{
	const char *in = "/data/a b\t%c\nd\re";
	char out[256];

	(void)state;
	cap_field_escape(in, out, sizeof(out));
	assert_string_equal(out, "/data/a%20b%09%25c%0Ad%0De");
	assert_null(strpbrk(out, " \t\n\r"));
	cap_field_unescape(out);
	assert_string_equal(out, in);
	cap_field_escape("plain", out, sizeof(out));
	assert_string_equal(out, "plain");
}

static void test_field_escape_bounds(void **state)
{
	char out[8];

	(void)state;
	memset(out, 'x', sizeof(out));
	cap_field_escape("      ", out, sizeof(out));
	assert_true(strlen(out) < sizeof(out));
	assert_string_equal(out, "%20%20");
	cap_field_escape("abcdefghij", out, sizeof(out));
	assert_string_equal(out, "abcd");
}

static void test_field_unescape_odd(void **state)
{
	char s1[] = "a%", s2[] = "a%2", s3[] = "%41%42";

	(void)state;
	cap_field_unescape(s1);
	assert_string_equal(s1, "a%");
	cap_field_unescape(s2);
	assert_string_equal(s2, "a%2");
	cap_field_unescape(s3);
	assert_string_equal(s3, "AB");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_node_ref_same_and_other),
		cmocka_unit_test(test_node_root),
		cmocka_unit_test(test_handle_equal_bytes),
		cmocka_unit_test(test_lock_inos_order_dedup),
		cmocka_unit_test(test_stripe_of_range),
		cmocka_unit_test(test_field_escape_roundtrip),
		cmocka_unit_test(test_field_escape_bounds),
		cmocka_unit_test(test_field_unescape_odd),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
