# SPDX-License-Identifier: GPL-2.0-or-later
#
# 055-systemd-units - `make install-units` (part of `make install`) into a
# DESTDIR installs cdpfs-capture.service (the store's daemon, serve mode),
# cdpfs-capture@.service (one protected directory) and the example drop-in
# for postgresql@15-main.service; each passes `systemd-analyze verify` with
# no complaint, the units run the cdpfs that the build made, an instance
# named by `systemd-escape --path` resolves, and the drop-in's instance is
# the cluster's data directory.  A unit with a typo is caught (the check can
# fail).  No unit is started: this machine's systemd is left alone.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd systemd-analyze "the units are checked with systemd-analyze verify"
require_cmd systemd-escape "instance names come from systemd-escape --path"

ROOT=$T/root
make -s --no-print-directory -C "$SRCDIR" BUILD="$T/mk" DESTDIR="$ROOT" PREFIX=/usr/local \
	UNIT_BINDIR="$(dirname "$CDPFS")" install-units >"$T/make.out" 2>&1 ||
	fail "make install-units failed: $(tail -5 "$T/make.out")"
UNITS=$ROOT/usr/local/lib/systemd/system
DROPIN=$ROOT/usr/local/share/cdpfs/systemd/postgresql@15-main.service.d/cdpfs-capture.conf
for f in "$UNITS/cdpfs-capture.service" "$UNITS/cdpfs-capture@.service" "$DROPIN"; do
	[ -s "$f" ] || fail "make install-units did not install '$f'"
	grep -q @BINDIR@ "$f" && check_fail "'$f' still holds @BINDIR@"
done
grep -q "^ExecStart=$CDPFS capture --foreground\$" "$UNITS/cdpfs-capture.service" ||
	check_fail "cdpfs-capture.service does not run '$CDPFS capture --foreground': $(grep ExecStart "$UNITS/cdpfs-capture.service")"
grep -q '^Restart=always' "$UNITS/cdpfs-capture.service" || check_fail "cdpfs-capture.service has no Restart=always"
grep -q '^Type=notify' "$UNITS/cdpfs-capture.service" || check_fail "cdpfs-capture.service is not Type=notify"
grep -q '^ExecStart=.* capture --ensure .*%f$' "$UNITS/cdpfs-capture@.service" ||
	check_fail "cdpfs-capture@.service does not hand %f to the daemon with --ensure"

# verify UNIT... : systemd-analyze verify with the installed units first in
# the search path; fails on a non-zero exit or any complaint
verify() {
	local rc=0
	SYSTEMD_UNIT_PATH="$VPATH:" systemd-analyze verify --man=no "$@" >"$T/verify.out" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ] || [ -s "$T/verify.out" ]; then
		log "systemd-analyze verify $*: exit $rc: $(head -c 600 "$T/verify.out" | tr '\n' '|')"
		return 1
	fi
	return 0
}

inst=cdpfs-capture@$(systemd-escape --path "$T/data").service
mkdir -p "$T/data"
VPATH=$UNITS
verify cdpfs-capture.service || check_fail "cdpfs-capture.service does not pass systemd-analyze verify"
verify cdpfs-serve.service || check_fail "cdpfs-serve.service does not pass systemd-analyze verify"
grep -q "^ExecStart=$CDPFS serve --store " "$UNITS/cdpfs-serve.service" ||
	check_fail "cdpfs-serve.service does not run '$CDPFS serve': $(grep ExecStart "$UNITS/cdpfs-serve.service")"
verify "$inst" || check_fail "$inst (the instance of '$T/data') does not pass systemd-analyze verify"

# the drop-in, on the cluster's unit (Debian's postgresql@.service, or a
# stand-in when PostgreSQL is not installed)
PG=$T/pg
mkdir -p "$PG/postgresql@15-main.service.d"
cp "$DROPIN" "$PG/postgresql@15-main.service.d/"
if [ ! -e /lib/systemd/system/postgresql@.service ] && [ ! -e /usr/lib/systemd/system/postgresql@.service ]; then
	printf '[Unit]\nDescription=stand-in\n[Service]\nType=oneshot\nExecStart=/bin/true\n' \
		>"$PG/postgresql@.service"
fi
VPATH=$PG:$UNITS
verify postgresql@15-main.service || check_fail "postgresql@15-main.service with the drop-in does not pass systemd-analyze verify"
want=cdpfs-capture@$(systemd-escape --path /var/lib/postgresql/15/main).service
grep -q "^Requires=$want\$" "$DROPIN" && grep -q "^After=$want\$" "$DROPIN" ||
	check_fail "the drop-in does not require and order after $want: $(grep -E '^(Requires|After)=' "$DROPIN" | tr '\n' ' ')"

# the check can fail: a typo in a unit, a drop-in naming a unit that is not there
sed 's/^Type=notify/Type=notfy/' "$UNITS/cdpfs-capture.service" >"$PG/cdpfs-capture.service"
verify cdpfs-capture.service && check_fail "systemd-analyze verify took a unit with Type=notfy"
rm "$PG/cdpfs-capture.service"
sed -i 's/cdpfs-capture@/cdpfs-captur@/' "$PG/postgresql@15-main.service.d/cdpfs-capture.conf"
verify postgresql@15-main.service && check_fail "systemd-analyze verify took a drop-in requiring a unit that does not exist"
finish
