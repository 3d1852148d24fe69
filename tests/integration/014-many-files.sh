# SPDX-License-Identifier: GPL-2.0-or-later
#
# 014-many-files - a tree with more files than the machine's open-file
# limit (20,000 here) is captured without one descriptor per inode.
# 24,000 files in 24 directories are made through the capture mount, every
# one is looked up and stat'ed (ls -lR) and 3,000 are held open at once;
# the capture daemon's open descriptors must stay a small bounded number.
# Then the instant is mounted and must hold every file, exactly.
. "$(dirname "$0")/lib.sh"
require_cdpfs
require_cmd python3 "makes the files"

DATA=$T/data
mkdir -p "$DATA"
capture_start "$DATA"
daemon=
for p in "${DAEMON_PIDS[@]}"; do pid_is_ours "$p" && daemon=$p; done
[ -n "$daemon" ] || fail "cannot find the capture daemon's pid"
limit=$(awk '/Max open files/ {print $4}' "/proc/$daemon/limits")
log "capture daemon $daemon, open-file limit $limit"

python3 - "$DATA" <<'EOF' || fail "making 24,000 files through the capture mount failed"
import os, sys
d = sys.argv[1]
for i in range(24):
    os.mkdir(f"{d}/dir{i:02d}")
    for j in range(1000):
        with open(f"{d}/dir{i:02d}/f{j:04d}", "w") as f:
            f.write(f"{i}/{j}\n")
EOF
entries=$(ls -lR "$DATA" | grep -c '^-')
[ "$entries" -eq 24000 ] || check_fail "ls -lR through capture: expected 24000 files, got $entries"
# hold 3,000 files open at once, reading each, while counting the daemon's fds
held=$(python3 - "$DATA" "$daemon" <<'EOF'
import os, sys
d, pid = sys.argv[1], sys.argv[2]
fds = []
for i in range(3):
    for j in range(1000):
        fd = os.open(f"{d}/dir{i:02d}/f{j:04d}", os.O_RDONLY)
        assert os.read(fd, 64) == f"{i}/{j}\n".encode()
        fds.append(fd)
print(len(os.listdir(f"/proc/{pid}/fd")))
EOF
) || check_fail "holding 3,000 captured files open failed"
after=$(ls "/proc/$daemon/fd" | wc -l)
log "daemon descriptors: $held with 3,000 files held open, $after after"
# the daemon keeps one fd per open file handle plus a bounded cache
[ "${held:-99999}" -le 6000 ] ||
	check_fail "the capture daemon held $held descriptors for 3,000 open files: expected a bounded number (<= 6000)"
[ "$after" -le 3000 ] ||
	check_fail "after a stat of 24,000 files the capture daemon holds $after descriptors: expected a bounded cache (<= 3000), not one per inode"
checkpoint many "$DATA"
verify_checkpoints
capture_stop "$DATA"
finish
