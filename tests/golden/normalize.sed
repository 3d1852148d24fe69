# SPDX-License-Identifier: GPL-2.0-or-later
# normalize.sed - sed -E script that golden_check (tests/integration/lib.sh)
# runs over an output before comparing it with its golden file: what changes
# from run to run becomes a constant, what the format promises stays.
# ISO 8601 instants with nanoseconds and zone
s/"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})"/"@TIME@"/g
# Unix times as given on the command line (@SECONDS.NANOSECONDS)
s/"@[0-9]+(\.[0-9]+)?"/"@UNIXTIME@"/g
# integers that count time, sequence numbers, sizes and steps
s/"([a-z_]*(_ns|_ms|seq|size_bytes|entries|steps))": -?[0-9]+/"\1": @N@/g
s/"exact": (true|false)/"exact": @BOOL@/g
# drill IDs (UTC start, host, four random hex digits) and SHA-256 values
s/[0-9]{8}T[0-9]{6}Z-[A-Za-z0-9._-]+-[0-9a-f]{4}/@ID@/g
s/[0-9a-f]{64}/@SHA256@/g
# mkdtemp suffixes
s/(cdpfs-(drill|bisect)-)[A-Za-z0-9]{6}/\1XXXXXX/g
# the checks directory the binary was built with (PREFIX)
s|(Ready-made checks \(each with --help\): ).*/postgres|\1@CHECKDIR@/postgres|
# who ran a drill and where (report format 2), and texts that carry figures
s/"(user|machine|kernel)": "[^"]*"/"\1": "@TEXT@"/g
s/"(uid)": [0-9]+/"\1": @N@/g
s/"login_uid": (null|[0-9]+)/"login_uid": @UID@/g
s/"conclusion": "(PASS|FAIL|ERROR|INTERRUPTED): ([^"\\]|\\.)*"/"conclusion": "\1: @TEXT@"/g
s/("result": "(ok|warning|failed)", "detail": )"([^"\\]|\\.)*"/\1"@TEXT@"/g
