# SPDX-License-Identifier: GPL-2.0-or-later
#
# 053-metrics - `cdpfs capture --metrics 127.0.0.1:PORT` serves /metrics:
# a scrape by curl is the Prometheus text format (every line a comment
# or a sample of a declared metric, labels host and dir, counters ending
# in _total), carries the same metrics and labels as `cdpfs status
# --prometheus`, says capture is up for the directory, and counts the
# operations of a known workload; other paths are 404; a port already in
# use is refused with one line, and a bad ADDR:PORT too.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd curl

DATA=$T/data
make_baseline "$DATA"
port=$((20000 + RANDOM % 20000))
expect_fail "a bad --metrics" "$CDPFS" capture --store "$STORE" --host "$HOST" --metrics nonsense "$DATA"
CAPTURE_FLAGS="--metrics 127.0.0.1:$port" capture_start "$DATA"
for i in $(seq 1 20); do printf '%d\n' "$i" >>"$DATA/counted"; done
sync "$DATA/counted"
sleep 1.2

URL=http://127.0.0.1:$port/metrics
curl -fsS "$URL" >"$T/scrape.txt" || fail "curl $URL failed"
"$CDPFS" status --store "$STORE" --prometheus >"$T/status.prom" || true
python3 - "$T/scrape.txt" "$T/status.prom" "$HOST" "$DATA" <<'PY' || check_fail "the scrape is not what was expected (see above)"
import re, sys
scrape, status, host, data = sys.argv[1:]
label = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:\\.|[^"\\])*"'
sample = re.compile(r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>' + label + r'(?:,' + label +
                    r')*)?\})? (?P<value>-?[0-9.eE+-]+|NaN|\+Inf|-Inf)$')
def parse(path):
    types, samples, bad = {}, [], []
    for n, line in enumerate(open(path).read().splitlines(), 1):
        if line.startswith('# TYPE '):
            _, _, name, t = line.split(' ', 3)
            types[name] = t
        elif line.startswith('# HELP ') or not line:
            pass
        elif line.startswith('#'):
            bad.append((n, line))
        else:
            m = sample.match(line)
            if not m:
                bad.append((n, line))
                continue
            samples.append((m.group('name'), m.group('labels') or '', float(m.group('value'))))
    return types, samples, bad
types, samples, bad = parse(scrape)
ok = True
if bad:
    print('lines not in the text format:', bad[:5]); ok = False
for name, labels, v in samples:
    base = re.sub(r'_(bucket|sum|count)$', '', name)
    if name not in types and base not in types:
        print('sample of an undeclared metric:', name); ok = False
    if types.get(name) == 'counter' and not name.endswith('_total'):
        print('counter not ending in _total:', name); ok = False
up = [v for n, l, v in samples if n == 'cdpfs_capture_up' and f'host="{host}"' in l and f'dir="{data}"' in l]
if up != [1.0]:
    print('cdpfs_capture_up for the directory:', up); ok = False
ops = [v for n, l, v in samples if n == 'cdpfs_journal_operations_total']
if not ops or ops[0] < 20:
    print('cdpfs_journal_operations_total below the 20 appends made:', ops); ok = False
st_types, st_samples, _ = parse(status)
if set(types) != set(st_types):
    print('metrics differ from status --prometheus:', set(types) ^ set(st_types)); ok = False
if {(n, l) for n, l, _ in samples} != {(n, l) for n, l, _ in st_samples}:
    print('series differ from status --prometheus'); ok = False
sys.exit(0 if ok else 1)
PY
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/other")
[ "$code" = 404 ] || check_fail "GET /other answered $code, expected 404"
ctype=$(curl -s -o /dev/null -w '%{content_type}' "$URL")
case $ctype in "text/plain; version=0.0.4"*) ;; *) check_fail "content type '$ctype'" ;; esac

# a second store's daemon on the same port is refused, with one line
OTHER=$T/other
mkdir -p "$OTHER"
expect_fail "--metrics on a port in use" "$CDPFS" capture --store "$T/store2" --host "$HOST" \
	--metrics "127.0.0.1:$port" "$OTHER"
grep -q "cannot serve metrics on '127.0.0.1:$port'" "$T/expect.err" ||
	check_fail "the refusal does not name the address: $(cat "$T/expect.err")"
is_mounted "$OTHER" && check_fail "'$OTHER' is mounted after the refusal"
capture_stop "$DATA"
curl -s "$URL" >/dev/null 2>&1 && check_fail "the metrics endpoint still answers after the daemon stopped"
finish
