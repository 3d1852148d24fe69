/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * fuzz_keep_rule.c - the retention rules from both sides: any text given
 * to --keep either fails or gives a rule that formats to a text which
 * parses back to the same rule; any bytes read as a stored policy or
 * prune record either fail (CDP_ECORRUPT) or decode to rules that encode
 * to exactly those bytes.
 */
#include <string.h>

#include "fuzz.h"
#include "retain.h"
#include "store_test.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cdp_keep_rule r, back, rules[CDP_KEEP_RULES_MAX];
	uint8_t out[4 + CDP_KEEP_RULES_MAX * 16];
	char text[128], again[128];
	size_t n;

	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		if (cdp_keep_rule_parse(text, &r) == 0) {
			CHECK(r.age_ns > 0 && r.every_ns >= 0);
			cdp_keep_rule_format(&r, again, sizeof(again));
			CHECK(cdp_keep_rule_parse(again, &back) == 0);
			CHECK(back.age_ns == r.age_ns && back.every_ns == r.every_ns);
		}
	}
	if (cdp_keep_rules_decode(data, size, rules, &n) == 0) {
		CHECK(n <= CDP_KEEP_RULES_MAX);
		CHECK(cdp_keep_rules_encode(out, rules, n) == size);
		CHECK(memcmp(out, data, size) == 0);
	}
	return 0;
}
