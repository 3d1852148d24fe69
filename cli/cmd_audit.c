/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * cmd_audit.c - the audit trail on the command line: cli_audit(), the one
 * call by which a verb records its action, and `cdpfs audit`, which reads
 * and verifies the trail (store/audit.h; format in docs/format.md, "Audit
 * trail").
 *
 * cli_audit() records at the process's exit, when the outcome is known:
 * exit 0 is "ok" (or what cli_audit_result() said), die() is "error: " and
 * its message, any other status "exit N".  So each verb needs one call,
 * placed once its arguments are known, and every way out is recorded,
 * refusals included.  The exit handler records only in the process that
 * called cli_audit() (not in a daemon forked from it), only in a directory
 * that is a store (holds FORMAT), and prints one warning line when the
 * record cannot be written.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "audit.h"
#include "store.h"

static struct {
	char *store, *action, *args;
	char result[1200];
	pid_t pid;
	int armed, registered;
} pending;

/* Whether dir holds a cdpfs store: its FORMAT file names one. */
static int is_store(const char *dir)
{
	char *format = cli_strfmt("%s/FORMAT", dir), line[64] = "";
	FILE *f = fopen(format, "re");

	free(format);
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	return strncmp(line, "cdpfs store format ", 19) == 0;
}

static void audit_now(void)
{
	int ret;

	if (!pending.armed || getpid() != pending.pid)
		return;
	pending.armed = 0;
	if (!is_store(pending.store))
		return;   /* not a store (a mistyped --store): nothing to audit in */
	ret = cdp_audit_record(pending.store, pending.action, pending.args, pending.result);
	/* after die() its line is the one line a refusal gets */
	if (ret < 0 && strncmp(pending.result, "error: ", 7) != 0)
		fprintf(stderr, "cdpfs: warning: cannot record '%s' in the audit trail of '%s': "
			"%s\n", pending.action, pending.store, cdp_strerror(ret));
}

static void at_exit(int status, void *arg)
{
	if (!pending.armed || getpid() != pending.pid)
		return;
	if (!pending.result[0]) {
		if (status == 0)
			snprintf(pending.result, sizeof(pending.result), "ok");
		else
			snprintf(pending.result, sizeof(pending.result), "exit %d", status);
	}
	audit_now();
}

void cli_audit(const char *store, const char *action, const char *fmt, ...)
{
	va_list ap;

	if (!store)
		return;
	cdp_audit_init();
	if (pending.armed) {
		/* a second action of the same process: the first is done */
		if (!pending.result[0])
			snprintf(pending.result, sizeof(pending.result), "ok");
		audit_now();
	}
	free(pending.store);
	free(pending.action);
	free(pending.args);
	pending.store = cli_strfmt("%s", store);
	pending.action = cli_strfmt("%s", action);
	va_start(ap, fmt);
	if (vasprintf(&pending.args, fmt, ap) < 0)
		pending.args = NULL;
	va_end(ap);
	pending.result[0] = '\0';
	pending.pid = getpid();
	pending.armed = 1;
	cli_die_hook = cli_audit_error;
	if (!pending.registered && on_exit(at_exit, NULL) == 0)
		pending.registered = 1;
}

void cli_audit_result(const char *fmt, ...)
{
	va_list ap;

	if (!pending.armed)
		return;
	va_start(ap, fmt);
	vsnprintf(pending.result, sizeof(pending.result), fmt, ap);
	va_end(ap);
}

void cli_audit_error(const char *msg)
{
	if (pending.armed && !pending.result[0] && getpid() == pending.pid)
		snprintf(pending.result, sizeof(pending.result), "error: %s", msg);
}

void cli_audit_cancel(void)
{
	pending.armed = 0;
}

/* ------------------------------------------------------- cdpfs audit */

enum {
	OPT_SINCE = 256,
	OPT_USER,
	OPT_ACTION,
	OPT_VERIFY,
};

static const struct cli_option audit_options[] = {
	{ "since", required_argument, OPT_SINCE, "--since TIME", "only records at or after TIME" },
	{ "user", required_argument, OPT_USER, "--user USER", "only records of USER (a name or a uid)" },
	{ "action", required_argument, OPT_ACTION, "--action ACTION",
	  "only records of ACTION (mount, drill, capture-start...)" },
	{ "verify", no_argument, OPT_VERIFY, "--verify",
	  "check the hash chain: a changed, inserted or removed record,\n"
	  "or a torn one, is named with its line" },
	CLI_OPT_JSON("records (or the verification) as JSON"),
	{ NULL, 0, 0, NULL,
	  "Exit status: 0 read (or the chain is intact), 1 problems found or the trail\n"
	  "cannot be read." },
	CLI_OPT_END
};

struct audit_filter {
	int64_t since_ns;
	const char *user, *action;
	int json;
	size_t shown;
};

static int print_record(void *arg, const struct cdp_audit_rec *r)
{
	struct audit_filter *f = arg;
	char when[64], uid[24];

	snprintf(uid, sizeof(uid), "%lld", r->uid);
	if (r->ts_ns < f->since_ns || (f->action && strcmp(r->action, f->action) != 0) ||
	    (f->user && strcmp(r->user, f->user) != 0 && strcmp(uid, f->user) != 0))
		return 0;
	if (f->json) {
		printf("%s\n  {\"n\": %llu, ", f->shown ? "," : "", (unsigned long long)r->n);
		cli_json_time(stdout, "time", r->ts_ns, ", ");
		fputs(", \"user\": ", stdout);
		cli_json_string(stdout, r->user);
		printf(", \"uid\": %lld, \"login_uid\": ", r->uid);
		if (r->login_uid >= 0)
			printf("%lld", r->login_uid);
		else
			fputs("null", stdout);
		fputs(", \"machine\": ", stdout);
		cli_json_string(stdout, r->machine);
		printf(", \"pid\": %lld, \"action\": ", r->pid);
		cli_json_string(stdout, r->action);
		fputs(", \"args\": ", stdout);
		cli_json_string(stdout, r->args);
		fputs(", \"result\": ", stdout);
		cli_json_string(stdout, r->result);
		printf(", \"sha256\": \"%s\"}", r->hash_hex);
	} else {
		cli_time_ms(r->ts_ns, when, sizeof(when));
		printf("%-5llu %s  %s (uid %lld)  %s  %-14s %s  [%s]\n", (unsigned long long)r->n,
		       when, r->user, r->uid, r->machine, r->action, r->result, r->args);
	}
	f->shown++;
	return 0;
}

struct verify_print {
	int json;
	size_t problems, notes;
};

static void verify_problem(void *arg, uint64_t line, uint64_t n, const char *what)
{
	struct verify_print *v = arg;

	if (v->json) {
		printf("%s\n    {\"line\": %llu, \"record\": ", v->problems ? "," : "",
		       (unsigned long long)line);
		if (n)
			printf("%llu", (unsigned long long)n);
		else
			fputs("null", stdout);
		fputs(", \"problem\": ", stdout);
		cli_json_string(stdout, what);
		fputs("}", stdout);
	} else if (n) {
		printf("line %llu (record %llu): %s\n", (unsigned long long)line,
		       (unsigned long long)n, what);
	} else {
		printf("line %llu: %s\n", (unsigned long long)line, what);
	}
	v->problems++;
}

static void verify_note(void *arg, uint64_t line, const char *what)
{
	struct verify_print *v = arg;

	if (!v->json)
		printf("line %llu: note: %s\n", (unsigned long long)line, what);
	v->notes++;
}

static int audit_verify(const char *store, int json)
{
	struct verify_print v = { json, 0, 0 };
	uint64_t records = 0;
	char head[65] = "";
	int ret;

	cli_audit(store, "audit-verify", "file=%s", CDP_AUDIT_FILE);
	if (json) {
		fputs("{\"store\": ", stdout);
		cli_json_string(stdout, store);
		fputs(", \"problems\": [", stdout);
	}
	ret = cdp_audit_verify(store, verify_problem, verify_note, &v, &records, head);
	if (ret < 0) {
		if (json)
			fputs("]}\n", stdout);
		fflush(stdout);
		die("cannot verify the audit trail of store '%s': %s", store,
		    ret == -CDP_ECORRUPT ? "its first line is not '" CDP_AUDIT_HEADER "'" :
		    cdp_strerror(ret));
	}
	if (json) {
		printf("%s], \"records\": %llu, \"head_sha256\": ", v.problems ? "\n  " : "",
		       (unsigned long long)records);
		cli_json_string_or_null(stdout, head);
		printf(", \"notes\": %zu, \"result\": \"%s\"}\n", v.notes,
		       ret ? "problems" : "intact");
	} else if (ret) {
		printf("audit trail of store '%s': %d problem(s) in %llu records\n", store, ret,
		       (unsigned long long)records);
	} else {
		printf("audit trail of store '%s': %llu records, chain intact; head %s\n"
		       "(keep the head elsewhere: whoever can write the file can rewrite the whole "
		       "chain)\n", store, (unsigned long long)records, records ? head : "-");
	}
	if (ret)
		cli_audit_result("problems: %d", ret);
	else
		cli_audit_result("intact: %llu records, head %s", (unsigned long long)records, head);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return ret ? 1 : 0;
}

static int cmd_audit(struct cli_ctx *ctx)
{
	const struct cli_cmd *self = ctx->cmd;
	struct audit_filter f = { 0, NULL, NULL, 0, 0 };
	const char *arg, *since = NULL, *store;
	int c, verify = 0, ret;

	while ((c = cli_getopt(ctx, &arg)) != -1) {
		switch (c) {
		case OPT_SINCE:
			since = arg;
			break;
		case OPT_USER:
			f.user = arg;
			break;
		case OPT_ACTION:
			f.action = arg;
			break;
		case OPT_VERIFY:
			verify = 1;
			break;
		}
	}
	if (ctx->nargs)
		cli_usage_error(self, "unexpected argument '%s'", ctx->args[0]);
	if (verify && (since || f.user || f.action))
		cli_usage_error(self, "--verify checks the whole trail: no --since, --user, --action");
	store = cli_store_path(ctx);
	if (!is_store(store))
		die("no store at '%s' (name it with --store or CDPFS_STORE)", store);
	if (verify)
		return audit_verify(store, ctx->json);
	if (since)
		f.since_ns = cli_resolve_time(since, cdp_now_ns());
	f.json = ctx->json;
	if (f.json) {
		fputs("{\"store\": ", stdout);
		cli_json_string(stdout, store);
		fputs(", \"records\": [", stdout);
	}
	ret = cdp_audit_read(store, print_record, &f);
	if (ret < 0) {
		fflush(stdout);
		die("cannot read the audit trail of store '%s': %s", store,
		    ret == -CDP_ECORRUPT ? "its first line is not '" CDP_AUDIT_HEADER "'" :
		    cdp_strerror(ret));
	}
	if (f.json)
		printf("%s]}\n", f.shown ? "\n" : "");
	else if (!f.shown)
		printf("no audit record%s in store '%s'\n", since || f.user || f.action ?
		       " matches" : "", store);
	if (fflush(stdout) != 0)
		die("cannot write the output");
	return 0;
}

const struct cli_cmd cli_cmd_audit = {
	.name = "audit",
	.fn = cmd_audit,
	.usage = "audit [--store DIR] [--since TIME] [--user USER] [--action ACTION] [--json]\n"
		 "       cdpfs audit [--store DIR] --verify [--json]",
	.summary = "read or verify the store's audit trail: who did what, when",
	.options = audit_options,
	.flags = CLI_NEEDS_STORE | CLI_JSON,
};
