# SPDX-License-Identifier: GPL-2.0-or-later
# cdpfs-test: alone (a browser's load)
#
# 073-drill-html-browser - a drill's report.html in a real browser: headless
# Chromium (Debian's chromium package) loads the page of a passing and of a
# failing drill with no console message (a blocked load, a script error or
# a CSP violation would print one; a copy of the page that loads an image
# proves the check sees them), the rendered DOM holds the key fields, and
# each page renders to a PNG and prints to a PDF whose text (pdftotext,
# when poppler-utils is installed) has every section.  Skips, saying why,
# when Chromium is not installed.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd sqlite3 "needed for the sqlite check; scripts/install-deps installs it"
require_cmd jq "needed to read the JSON reports; scripts/install-deps installs it"
CHROMIUM=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROMIUM" ] || skip "chromium is not installed (apt-get install chromium; scripts/install-deps installs it): report.html not rendered"
CHECKS=$SRCDIR/scripts/checks
export TMPDIR=$T/tmp
mkdir -p "$TMPDIR" "$T/chrome-home"
# Chromium's singleton socket lives in its TMPDIR and its profile: a unix
# socket path has 107 bytes at most, which a deep $T (CI's) exceeds
CHROME_TMP=$(mktemp -d /tmp/cdpfs-chrome.XXXXXX) || fail "cannot make a temp dir for chromium"
at_exit "rm -rf '$CHROME_TMP'"

DATA=$T/data
make_baseline "$DATA"
sqlite3 "$DATA/app.db" "CREATE TABLE t(id INTEGER PRIMARY KEY); INSERT INTO t VALUES(1), (2);"
capture_start "$DATA"
at=$(record_instant)

"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db" --expect 2 >"$T/pass.json" ||
	fail "the passing drill exited $?"
"$CDPFS" drill --store "$STORE" --json "$HOST:$DATA@@$at" \
	--check "$CHECKS/sqlite --query 'SELECT count(*) FROM t' app.db" --expect 3 >"$T/fail.json" 2>/dev/null &&
	fail "the drill with a wrong answer passed"
capture_stop "$DATA"

# chrome ACTION PAGE OUT: one headless run (a profile of our own, no
# sandbox: tests run as root), its log in OUT.log
chrome() {
	local action=$1 page=$2 out=$3 rc=0
	HOME=$T/chrome-home TMPDIR=$CHROME_TMP timeout 60 "$CHROMIUM" --headless --no-sandbox --disable-gpu \
		--no-first-run --disable-extensions --disable-background-networking \
		--user-data-dir="$CHROME_TMP/profile" --enable-logging=stderr --v=0 \
		--window-size=1000,1400 "$action" "file://$page" >"$out.stdout" 2>"$out.log" || rc=$?
	[ "$rc" = 0 ] || check_fail "chromium $action of $page exited $rc: $(grep -v -e dbus -e vaapi "$out.log" | tail -n 3 | tr '\n' '|')"
	return 0
}

for kind in pass fail; do
	id=$(jq -r .id "$T/$kind.json")
	page=$STORE/drills/$id/report.html
	out=$T/$kind
	chrome --dump-dom "$page" "$out.dom"
	if grep -q 'CONSOLE' "$out.dom.log"; then
		check_fail "$kind report: the page logged console messages: $(grep CONSOLE "$out.dom.log" | head -n 3 | tr '\n' '|')"
	fi
	for want in "$id" "RPO proven" "RTO to the database answering" "RTO to the last check passing" \
		"Run by" "$(id -un) (uid $(id -u)" "Machine" "$(hostname)" "SQLite " "Expected answer" \
		"1. Basic information" "6. Steps" "9. Appendix" 'class="timeline"'; do
		grep -qF -- "$want" "$out.dom.stdout" || check_fail "$kind report: the rendered page lacks '$want'"
	done
	[ "$kind" = pass ] && ! grep -q 'verdict pass">PASS: ' "$out.dom.stdout" && check_fail "the passing report's verdict is not PASS"
	[ "$kind" = fail ] && ! grep -q "verdict fail\">FAIL: check 1 answered '2', expected '3'" "$out.dom.stdout" &&
		check_fail "the failing report's verdict: $(grep -o 'verdict fail">[^<]*' "$out.dom.stdout")"
	chrome --screenshot="$out.png" "$page" "$out.png"
	[ "$(head -c 8 "$out.png" 2>/dev/null | od -An -tx1 | tr -d ' \n')" = 89504e470d0a1a0a ] && [ "$(stat -c %s "$out.png")" -gt 20000 ] ||
		check_fail "$kind report: no PNG rendered ($(stat -c %s "$out.png" 2>/dev/null) bytes)"
	chrome --print-to-pdf="$out.pdf" "$page" "$out.pdf"
	head -c 5 "$out.pdf" 2>/dev/null | grep -q '%PDF-' || check_fail "$kind report: no PDF printed"
	if command -v pdftotext >/dev/null; then
		pdftotext -layout "$out.pdf" "$out.txt" || check_fail "pdftotext of the $kind report failed"
		for want in "cdpfs drill report" "$id" "1. Basic information" "2. Participants" "3. Assets" \
			"4. Overview" "5. Pre-drill checks" "6. Steps" "7. Post-drill checks" "8. Conclusion" \
			"9. Appendix" "RPO proven"; do
			grep -qF -- "$want" "$out.txt" || check_fail "$kind report: the printed PDF lacks '$want'"
		done
		log "$kind report: $(pdfinfo "$out.pdf" 2>/dev/null | grep -i '^pages' | tr -s ' ')"
	else
		log "no pdftotext (poppler-utils): the PDF's text is not read"
	fi
done

# the console check can fail: a copy of the page that loads an image
sed 's|</body>|<img src="http://192.0.2.1/x.png" alt=""></body>|' "$STORE/drills/$(jq -r .id "$T/pass.json")/report.html" >"$T/loads.html"
chrome --dump-dom "$T/loads.html" "$T/loads"
grep -q 'CONSOLE.*Content Security Policy' "$T/loads.log" ||
	check_fail "a page that loads an image logged no CSP violation: the console check cannot see errors ($(grep -c . "$T/loads.log") log lines)"
finish
