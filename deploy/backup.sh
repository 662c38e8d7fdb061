#!/usr/bin/env bash
# Back up the bot's database, encrypted (docs/DEPLOY.md, "Backups").
#
#   BACKUP_GPG_RECIPIENT=backups@example.org deploy/backup.sh [DEST_DIR]     # default ./backups
#   BACKUP_AGE_RECIPIENT=age1...             deploy/backup.sh [DEST_DIR]
#
# The database is the only thing to back up: the classifier's cache is rebuilt at start and the
# content is in git. With DATABASE_URL set: pg_dump (custom format, for pg_restore); else the
# SQLite file under BOT_DATA_DIR (default ./data), copied with SQLite's online backup, which is
# consistent while the bot runs.
#
# The data is health-related, so the copy is encrypted to a public key (the server cannot read
# its own backups; the private key lives elsewhere). Only onto storage that is itself encrypted
# and as restricted as the database, BACKUP_PLAINTEXT=1 writes it unencrypted.
# Backups older than BACKUP_KEEP_DAYS (default 7) are deleted: a backup keeps what /forget and
# the retention purge have since deleted from the database, so keep them short.
#
# Environment: DATABASE_URL, BOT_DATA_DIR, BOT_SQLITE_FILE (default bot.sqlite3),
# BACKUP_GPG_RECIPIENT / BACKUP_AGE_RECIPIENT / BACKUP_PLAINTEXT, BACKUP_KEEP_DAYS.
# Prints the path of the backup it wrote.
set -euo pipefail
umask 077

dest=${1:-./backups}
keep_days=${BACKUP_KEEP_DAYS:-7}
stamp=$(date -u +%Y%m%dT%H%M%SZ)

die() { echo "backup: $*" >&2; exit 1; }

if [[ -n ${BACKUP_GPG_RECIPIENT:-} ]]; then
    command -v gpg >/dev/null || die "gpg is not installed"
    encrypt() { gpg --batch --yes --quiet --trust-model always --encrypt --recipient "$BACKUP_GPG_RECIPIENT" --output -; }
    suffix=.gpg
elif [[ -n ${BACKUP_AGE_RECIPIENT:-} ]]; then
    command -v age >/dev/null || die "age is not installed"
    encrypt() { age --encrypt --recipient "$BACKUP_AGE_RECIPIENT"; }
    suffix=.age
elif [[ ${BACKUP_PLAINTEXT:-} == 1 ]]; then
    encrypt() { cat; }
    suffix=
else
    die "set BACKUP_GPG_RECIPIENT or BACKUP_AGE_RECIPIENT (a public key to encrypt to); BACKUP_PLAINTEXT=1 only onto encrypted, restricted storage"
fi

mkdir -p "$dest"
chmod 700 "$dest"
work=$(mktemp -d "$dest/.backup.XXXXXX")
trap 'rm -rf "$work"' EXIT

if [[ -n ${DATABASE_URL:-} ]]; then
    command -v pg_dump >/dev/null || die "pg_dump is not installed (its major version must be at least the server's)"
    name="backspasm-$stamp.pgdump$suffix"
    pg_dump --format=custom --dbname="$DATABASE_URL" | encrypt > "$work/$name"
else
    command -v sqlite3 >/dev/null || die "sqlite3 is not installed"
    db="${BOT_DATA_DIR:-./data}/${BOT_SQLITE_FILE:-bot.sqlite3}"
    [[ -f $db ]] || die "no database at $db: set BOT_DATA_DIR (or DATABASE_URL)"
    name="backspasm-$stamp.sqlite3$suffix"
    sqlite3 "$db" ".timeout 10000" ".backup '$work/snapshot.sqlite3'"
    [[ $(sqlite3 "$work/snapshot.sqlite3" "PRAGMA integrity_check;") == ok ]] || die "the copy of $db fails its integrity check"
    encrypt < "$work/snapshot.sqlite3" > "$work/$name"
fi

mv "$work/$name" "$dest/$name"
find "$dest" -maxdepth 1 -type f -name 'backspasm-*' -mtime "+$keep_days" -delete
echo "$dest/$name"
