# SPDX-License-Identifier: GPL-2.0-or-later
#
# lib-stress.sh - helpers of the stress tests (015, 016), sourced after
# lib.sh: running tests/tools/stress with a lib.sh checkpoint at the end of
# each of its rounds, reporting its failures, and a summary of a manifest
# diff by kind of difference, for whoever fixes what it finds.

STRESS=$(tool stress)
# STRESS_OPTS: more stress options for every run, after the test's own
# (later ones win): e.g. STRESS_OPTS="-x rename_whiteout" to look past a
# known failure, or "-s 7" for another seed.
read -r -a STRESS_EXTRA <<<"${STRESS_OPTS:-}"

# is_sanitizer_build: the cdpfs under test was built with SANITIZE= (make
# exports SANITIZE to the test runner; build/.flags holds the flags of the
# last build), so it runs several times slower: tests scale their load down.
is_sanitizer_build() {
	[ -n "${SANITIZE:-}" ] && return 0
	grep -q -- '-fsanitize' "$BUILD/.flags" 2>/dev/null
}

# stress_abort: on an early exit of the test, ends the stress_rounds run
# in flight: kills its parent (its workers die with it, PR_SET_PDEATHSIG),
# then lets a round command blocked on either fifo go.
STRESS_ACTIVE=
stress_abort() {
	local pid req ack
	[ -n "$STRESS_ACTIVE" ] || return 0
	read -r pid req ack <<<"$STRESS_ACTIVE"
	kill "$pid" 2>/dev/null || true
	[ -p "$ack" ] && timeout 2 bash -c 'exec 3<>"$1"; echo stop >"$2"' _ "$req" "$ack" 2>/dev/null
	return 0
}
at_exit stress_abort

# stress_rounds NAME DIR STRESS_ARGS...: runs stress -d DIR with the args
# (which include -r ROUNDS); at the end of each round, while every stress
# process waits, takes `checkpoint NAME-rK DIR` here in this shell (the
# round command hands over through two fifos).  Output in $T/NAME.out
# (the per-op table) and $T/NAME.err; sets STRESS_RC.
stress_rounds() {
	local name=$1 dir=$2 req ack rfd k pid
	shift 2
	req=$T/$name.req
	ack=$T/$name.ack
	mkfifo "$req" "$ack"
	exec {rfd}<>"$req"
	log "stress $name: $STRESS -d $dir $* ${STRESS_EXTRA[*]}"
	"$STRESS" -d "$dir" "$@" "${STRESS_EXTRA[@]}" -c "echo \$STRESS_ROUND >'$req' && read x <'$ack'" \
		>"$T/$name.out" 2>"$T/$name.err" &
	pid=$!
	STRESS_ACTIVE="$pid $req $ack"
	while :; do
		if read -r -t 1 k <&"$rfd"; then
			checkpoint "$name-r$k" "$dir"
			echo go >"$ack"
		elif ! kill -0 "$pid" 2>/dev/null; then
			break
		fi
	done
	STRESS_RC=0
	wait "$pid" || STRESS_RC=$?
	STRESS_ACTIVE=
	exec {rfd}<&-
	rm -f "$req" "$ack"
}

# stress_check NAME: logs the table and the tail of $T/NAME.err; a
# check_fail when stress exited non-zero, naming each op that returned a
# failure errno (ESTALE, EIO, ENOTCONN, EAGAIN, ECONNABORTED, EBADF) and
# how often.
stress_check() {
	local name=$1 failures
	log "stress $name: exit $STRESS_RC; per-op table (ok, skipped, errno=count):"
	cat "$T/$name.out"
	grep -v '^stress: round' "$T/$name.err" | tail -n 25
	failures=$(awk '{ for (i = 4; i <= NF; i++) if ($i ~ /^FAILURE:/) { sub(/^FAILURE:/, "", $i); printf "%s %s, ", $1, $i } }' \
		"$T/$name.out")
	if [ -n "$failures" ]; then
		check_fail "stress $name: failure errnos from the filesystem: ${failures%, }"
	elif [ "$STRESS_RC" -ne 0 ]; then
		check_fail "stress $name: exited with $STRESS_RC (see $T/$name.err)"
	fi
}

# stress_divergence EXPECTED_ERR GOT_ERR: the first ops that gave another
# result in two -v runs of one seed (their stderr): where the trees part.
stress_divergence() {
	diff <(grep '^stress\[' "$1") <(grep '^stress\[' "$2") | head -n 8 | cut -c1-300 || true
}

# manifest_diff_summary EXPECTED GOT: prints how the manifests differ, by
# kind: entries missing from GOT (whiteouts, i.e. chr 0:0, apart), entries
# only in GOT, and for entries in both, which fields differ (content =
# size or sha256), each with a count and up to 3 examples.
manifest_diff_summary() {
	{ diff "$1" "$2" || true; } | awk '
	function fields(line, m,    n, i, a, kv, k) {
		n = split(line, a, " ")
		delete m
		for (i = 3; i <= n; i++) {
			k = index(a[i], "=")
			if (k == 0) continue
			m[substr(a[i], 1, k - 1)] = substr(a[i], k + 1)
		}
	}
	function note(cat, text) {
		gsub(/-0000000000+/, "-0...0", text)   # the long names of stress
		count[cat]++
		if (count[cat] <= 3) ex[cat] = ex[cat] "\n    " substr(text, 1, 230)
	}
	/^< / { path = $2; old[path] = $0; next }
	/^> / { path = $2; new[path] = $0; next }
	END {
		for (p in old) {
			if (!(p in new)) {
				fields(old[p], m)
				if (m["type"] == "chr" && m["rdev"] == "0:0") note("missing from the mount: whiteout (chr 0:0)", p)
				else note("missing from the mount: " m["type"], p)
				continue
			}
			fields(old[p], a); fields(new[p], b)
			for (k in b) if (!(k in a)) a[k] = "(none)"
			for (k in a) if (!(k in b)) b[k] = "(none)"
			what = ""
			for (k in a) {
				if (a[k] == b[k]) continue
				c = k
				if (k == "size" || k == "sha256") c = "content (size/sha256)"
				else if (k ~ /^xattr:/) c = "xattrs"
				if (index(what, "|" c "|")) continue
				what = what "|" c "|"
				note("differs: " c, p ": live " k "=" substr(a[k], 1, 24) " mounted " k "=" substr(b[k], 1, 24))
			}
		}
		for (p in new) if (!(p in old)) { fields(new[p], m); note("only in the mount: " m["type"], p) }
		np = 0
		for (p in old) np++
		for (p in new) if (!(p in old)) np++
		printf "  %d path(s) differ\n", np
		n = 0
		for (c in count) cats[++n] = c
		for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (cats[j] < cats[i]) { t = cats[i]; cats[i] = cats[j]; cats[j] = t }
		for (i = 1; i <= n; i++) printf "  %s: %d, e.g.%s\n", cats[i], count[cats[i]], ex[cats[i]]
	}'
}

# compare_stress_manifest EXPECTED GOT LABEL: compare_manifest plus the
# summary by kind when they differ; returns 1 then.
compare_stress_manifest() {
	if compare_manifest "$1" "$2" "$3" >"$2.log"; then
		return 0
	fi
	head -n 25 "$2.log"
	log "$3: summary of the differences (expected vs got):"
	manifest_diff_summary "$1" "$2"
	return 1
}

# verify_stress_checkpoints: verify_checkpoints, with a summary of each
# mismatch by kind of difference.
verify_stress_checkpoints() {
	local c name ts dir mnt
	if [ "${CDPFS_IT_DRYRUN:-0}" = 1 ]; then log "dry run: no verification"; return 0; fi
	for c in "${CHECKPOINTS[@]}"; do
		read -r name ts dir <<<"$c"
		mnt=$T/mnt/$name
		mount_at "$HOST" "@$ts" "$mnt"
		if ! manifest "$mnt$dir" >"$T/m/$name.got"; then
			check_fail "checkpoint $name: manifest of mounted '$mnt$dir' failed"
		elif compare_manifest "$T/m/$name.manifest" "$T/m/$name.got" "checkpoint $name @$ts" >"$T/m/$name.log"; then
			log "checkpoint $name @$ts: mounted tree matches"
		else
			head -n 25 "$T/m/$name.log"
			check_fail "checkpoint $name @$ts: mounted tree differs from the live tree"
			manifest_diff_summary "$T/m/$name.manifest" "$T/m/$name.got"
		fi
		umount_at "$mnt"
	done
}
