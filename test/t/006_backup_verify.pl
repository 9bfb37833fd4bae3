# Backup verification against real pg_basebackup output: a clean backup
# (SHA-256 and CRC-32C) has no problems and pg_verifybackup agrees; every
# kind of damage is reported with its file; the catalog and the event log
# record each verification; progress is visible from another session and a
# cancel frees it; artifacts match and mismatch; path escapes, non-backup
# directories and unprivileged callers are refused with SQLSTATEs; a
# standby verifies without recording.
use strict;
use warnings;

use Digest::SHA;
use File::Copy;
use File::Path qw(make_path);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(usleep);
use DrTest;

my $root = PostgreSQL::Test::Utils::tempdir();
my $archive = PostgreSQL::Test::Utils::tempdir();
my $outside = PostgreSQL::Test::Utils::tempdir();
my $pg_bin = '/usr/lib/postgresql/15/bin';

my $primary = new_primary('primary', <<"CONF");
tensafe_dr.backup_root = '$root'
archive_mode = on
archive_command = 'cp %p "$archive/%f"'
CONF
$primary->safe_psql('postgres', q{
	CREATE ROLE backup_admin LOGIN IN ROLE dr_admin;
	CREATE ROLE watcher LOGIN IN ROLE dr_monitor;
	CREATE ROLE nobody LOGIN;
	CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 20000) g;
});

sub take_backup
{
	my ($dir, @opts) = @_;
	command_ok([ "$pg_bin/pg_basebackup", '-D', $dir, '-h', $primary->host,
		'-p', $primary->port, '-Fp', '-X', 'stream', '-c', 'fast', @opts ],
		"pg_basebackup @opts into " . ($dir =~ s{.*/}{}r));
}

# verify(dir[, role]) -> list of "file|problem"
sub verify
{
	my ($dir, $role) = @_;
	my $set = $role ? "SET ROLE $role;" : '';
	my $out = $primary->safe_psql('postgres',
		"$set SELECT file || '|' || problem FROM dr_verify_backup('$dir')");
	return grep { $_ ne '' } split /\n/, $out;
}

# sqlstate(node, sql[, role]) -> the SQLSTATE of the error the SQL raises, '' if none
sub sqlstate
{
	my ($node, $sql, $role) = @_;
	my $set = $role ? "SET ROLE $role;\n" : '';
	my ($ret, $out, $err) = $node->psql('postgres',
		"\\set VERBOSITY verbose\n$set$sql");
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : '';
}



my $pg_verifybackup_ok = sub {
	my ($dir) = @_;
	return system("$pg_bin/pg_verifybackup", '-n', '-q', $dir) == 0;
};

###############################################################################
# Clean backups: no problems, pg_verifybackup agrees, recorded.
###############################################################################
my $sha = "$root/sha256";
my $crc = "$root/crc32c";
take_backup($sha, '--manifest-checksums=SHA256', '-l', 'nightly sha');
take_backup($crc, '--manifest-checksums=CRC32C', '-l', 'nightly crc');

is_deeply([ verify($sha) ], [], 'clean SHA-256 backup: no problems');
ok($pg_verifybackup_ok->($sha), 'pg_verifybackup -n agrees');
is_deeply([ verify($crc) ], [], 'clean CRC-32C backup: no problems');
ok($pg_verifybackup_ok->($crc), 'pg_verifybackup -n agrees');

is($primary->safe_psql('postgres', qq{
	SELECT label, verification_ok, problems, timeline,
	       start_lsn IS NOT NULL AND stop_lsn > start_lsn,
	       start_time IS NOT NULL AND stop_time >= start_time,
	       size_bytes > 1000000, verified_at IS NOT NULL,
	       system_identifier = (SELECT system_identifier FROM pg_control_system()),
	       details->'checksum_algorithms', details->>'same_cluster'
	  FROM dr_backups WHERE path = '$sha'}),
	'nightly sha|t|0|1|t|t|t|t|t|["SHA256"]|true',
	'catalog row: label, WAL range, times, size, system identifier from the backup');
is($primary->safe_psql('postgres', q{
	SELECT count(*), bool_and(successful) FROM dr_events
	 WHERE event_type = 'BACKUP_VERIFIED' AND (details->>'ok')::boolean}),
	'2|t', 'BACKUP_VERIFIED events recorded as successful');

# verifying again updates the same row
verify($sha);
is($primary->safe_psql('postgres', "SELECT count(*) FROM dr_backups WHERE path = '$sha'"),
	'1', 'a second verification updates the catalog row');

###############################################################################
# Damage, each reported with its file.
###############################################################################
my $n = 0;
sub damaged
{
	my ($what, $damage, $expect, $extra) = @_;
	my $dir = "$root/damaged_" . ++$n;
	copy_dir($sha, $dir);
	$damage->($dir);
	my @rows = verify($dir);
	for my $re (@$expect)
	{
		ok((grep { $_ =~ $re } @rows), "$what: reported ($re)")
		  or diag("rows:\n" . join("\n", @rows[0 .. ($#rows > 20 ? 20 : $#rows)]));
	}
	is(scalar(@rows), $extra // scalar(@$expect), "$what: nothing else reported")
	  or diag("rows:\n" . join("\n", @rows[0 .. ($#rows > 20 ? 20 : $#rows)]));
	ok(!$pg_verifybackup_ok->($dir), "$what: pg_verifybackup also fails")
	  unless $what =~ /WAL/;
	return $dir;
}

damaged('flipped byte', sub {
	my ($d) = @_;
	edit_file("$d/global/1262", sub { my $x = shift; substr($x, 100, 1) = chr(ord(substr($x, 100, 1)) ^ 0xff); $x });
}, [ qr{^global/1262\|checksum mismatch$} ]);

damaged('deleted file', sub { unlink "$_[0]/global/1262" or die },
	[ qr{^global/1262\|missing$} ]);

damaged('extra file', sub {
	open my $fh, '>', "$_[0]/global/extra_file" or die; print $fh "x"; close $fh;
}, [ qr{^global/extra_file\|not in manifest$} ]);

damaged('truncated manifest', sub {
	my ($d) = @_;
	edit_file("$d/backup_manifest", sub { substr($_[0], 0, length($_[0]) / 2) });
}, [ qr{^backup_manifest\|the manifest is not valid JSON} ]);

damaged('tampered manifest (a size changed)', sub {
	my ($d) = @_;
	edit_file("$d/backup_manifest", sub { my $x = shift; $x =~ s/("Path": "PG_VERSION", "Size": )3,/${1}4,/ or die "no PG_VERSION entry"; $x });
}, [ qr{^backup_manifest\|manifest checksum mismatch}, qr{^PG_VERSION\|size 3, manifest says 4$} ]);

damaged('wrong manifest checksum', sub {
	my ($d) = @_;
	edit_file("$d/backup_manifest", sub { my $x = shift; $x =~ s/("Manifest-Checksum": ")[0-9a-f]{64}/$1 . ('0' x 64)/e or die; $x });
}, [ qr{^backup_manifest\|manifest checksum mismatch: computed [0-9a-f]{64}, manifest says 0{64}$} ]);

my ($first_seg) = $primary->safe_psql('postgres', qq{
	SELECT pg_walfile_name(start_lsn) FROM dr_backups WHERE path = '$sha'});
my $nowal = damaged('missing WAL segment', sub {
	my ($d) = @_;
	unlink "$d/pg_wal/$first_seg" or die "no $first_seg in pg_wal";
}, [ qr{^$first_seg\|WAL segment $first_seg missing} ], undef);

is($primary->safe_psql('postgres', qq{
	SELECT verification_ok, problems, details->>'wal_segments_missing' FROM dr_backups WHERE path = '$nowal'}),
	'f|1|1', 'the failed verification is in the catalog with its counts');
is($primary->safe_psql('postgres', qq{
	SELECT successful, details->>'problems' FROM dr_events
	 WHERE event_type = 'BACKUP_VERIFIED' AND details->>'path' = '$nowal'}),
	'f|1', 'and as an unsuccessful BACKUP_VERIFIED event');

# The archive has it once the segment is switched out: then the backup is whole.
$primary->safe_psql('postgres', 'SELECT pg_switch_wal(); CHECKPOINT');
my $deadline = time + 30;
usleep(100_000) while !-f "$archive/$first_seg" && time < $deadline;
ok(-f "$archive/$first_seg", "segment $first_seg archived");
$primary->safe_psql('postgres', "ALTER SYSTEM SET tensafe_dr.wal_archive_dir = '$archive'; SELECT pg_reload_conf()");
ok(defined wait_until($primary, "SELECT current_setting('tensafe_dr.wal_archive_dir') = '$archive'", 't', 10),
	'wal_archive_dir set');
is_deeply([ verify($nowal) ], [], 'with tensafe_dr.wal_archive_dir the segment is found there');

# What "in the archive" means (src/backup/wal_archive.c, the rule dr_pitr_plan()
# shares): verification accepts a segment only compressed there (a restore_command
# that decompresses can use it), not a partial plain copy.  (The plan, whose
# restore_command is a plain cp, accepts neither: 007_pitr.pl.)
move("$archive/$first_seg", "$archive/$first_seg.gz") or die "move: $!";
is_deeply([ verify($nowal) ], [], 'a segment only compressed (.gz) in the archive is found');
move("$archive/$first_seg.gz", "$root/$first_seg.aside") or die "move: $!";
open my $partial, '>', "$archive/$first_seg" or die; print $partial 'x' x 8192; close $partial;
is_deeply([ map { s/\|.*//r } verify($nowal) ], [ $first_seg ], 'a partial plain copy in the archive is missing');
move("$root/$first_seg.aside", "$archive/$first_seg") or die "move back: $!";
is_deeply([ verify($nowal) ], [], 'whole again once the segment is back');

# A version 2 manifest (PostgreSQL 17's format, written here with a fresh
# Manifest-Checksum): System-Identifier checked against the backup's
# pg_control, Encoded-Path understood.
sub rewrite_manifest
{
	my ($dir, $edit) = @_;
	edit_file("$dir/backup_manifest", sub {
		my $x = shift;
		$x =~ s/"Manifest-Checksum": "[0-9a-f]{64}"\}\n\z//s or die "no checksum line";
		$x = $edit->($x);
		return $x . '"Manifest-Checksum": "' . Digest::SHA::sha256_hex($x) . "\"}\n";
	});
}
my ($sysid, $other_sysid) = split /\|/, $primary->safe_psql('postgres',
	'SELECT system_identifier, system_identifier + 1 FROM pg_control_system()');
for my $case ([ 'same', $sysid ], [ 'other', $other_sysid ])
{
	my ($what, $id) = @$case;
	my $dir = "$root/v2_$what";
	copy_dir($crc, $dir);
	rewrite_manifest($dir, sub {
		my $x = shift;
		$x =~ s/("PostgreSQL-Backup-Manifest-Version": )1,/${1}2,\n"System-Identifier": $id,/ or die;
		$x =~ s/"Path": "PG_VERSION"/'"Encoded-Path": "' . unpack('H*', 'PG_VERSION') . '"'/e or die;
		$x;
	});
	my @v2 = verify($dir);
	if ($what eq 'same')
	{
		is_deeply(\@v2, [], 'version 2 manifest with this system identifier and an Encoded-Path: valid');
	}
	else
	{
		is_deeply(\@v2, [ "global/pg_control|system identifier $sysid, manifest says $other_sysid" ],
			'version 2 manifest naming another system identifier: reported');
	}
}

# A symbolic link inside a backup pointing out of the roots is not followed.
my $linked = "$root/linked";
copy_dir($sha, $linked);
symlink($outside, "$linked/pg_tblspc/99999") or die;
my @rows = verify($linked);
is_deeply(\@rows, [ 'pg_tblspc/99999|symbolic link points outside tensafe_dr.backup_root (not followed)' ],
	'a symbolic link out of the roots inside a backup is reported, not followed');

###############################################################################
# Progress from another session; a cancel stops the verification and frees it.
###############################################################################
my $big = "$root/big";
copy_dir($crc, $big);
{
	# a sparse 40 GB file, in the manifest, hashed with SHA-256: long enough to watch
	my $size = 40 * 1024 * 1024 * 1024;
	open my $fh, '>', "$big/bigfile" or die;
	truncate($fh, $size) or die;
	close $fh;
	edit_file("$big/backup_manifest", sub {
		my $x = shift;
		$x =~ s/"Files": \[\n/"Files": [\n{ "Path": "bigfile", "Size": $size, "Last-Modified": "2026-01-01 00:00:00 GMT", "Checksum-Algorithm": "SHA256", "Checksum": "${\('0' x 64)}" },\n/ or die;
		$x;
	});
}
my ($bout, $berr) = ('', '');
my $h = IPC::Run::start([ "$pg_bin/psql", '-XAtq', '-d', $primary->connstr('postgres'),
	'-c', "SELECT count(*) FROM dr_verify_backup('$big')" ], '>', \$bout, '2>', \$berr);
my $seen = wait_until($primary, q{
	SET ROLE watcher;
	SELECT phase = 'checksumming files' AND bytes_done > 0 AND bytes_total > 40 * 1024^3
	  FROM dr_verify_progress()}, 't', 60);
ok(defined $seen, 'dr_monitor sees the running verification in dr_verify_progress()');
is($primary->safe_psql('postgres', "SELECT path = '$big', files_total > 0 FROM dr_verify_progress()"),
	't|t', 'with its path and totals');
$primary->safe_psql('postgres', 'SELECT pg_cancel_backend(pid) FROM dr_verify_progress()');
$h->finish;
like($berr, qr/canceling statement due to user request/, 'the verification is cancellable');
is($primary->safe_psql('postgres', 'SELECT count(*) FROM dr_verify_progress()'), '0',
	'its progress slot is freed after the cancel');

###############################################################################
# Refusals, each with its SQLSTATE.
###############################################################################
symlink('/etc', "$root/etc_link") or die;
mkdir "$root/not_a_backup" or die;
take_backup("$root/tarformat", '-Ft');
open my $fh, '>', "$root/plain_file" or die;
print $fh "hello\n";
close $fh;

my %refusals = (
	"dr_verify_backup('/etc')"                 => [ '42501', 'a path outside the roots' ],
	"dr_verify_backup('$root/../')"            => [ '42501', 'a ".." escape' ],
	"dr_verify_backup('$root/etc_link')"       => [ '42501', 'a symbolic link out of the root' ],
	"dr_verify_backup('/etc/no_such_dir')"     => [ '42501', 'a missing path outside the roots (existence not revealed)' ],
	"dr_verify_backup('$root/no_such_dir')"    => [ '58P01', 'a missing directory' ],
	"dr_verify_backup('relative/path')"        => [ '22023', 'a relative path' ],
	"dr_verify_backup(NULL)"                   => [ '22004', 'NULL' ],
	"dr_verify_backup('$root/not_a_backup')"   => [ '22023', 'a directory without backup_manifest' ],
	"dr_verify_backup('$root/plain_file')"     => [ '22023', 'a file, not a directory' ],
	"dr_verify_backup('$root/tarformat')"      => [ '22023', 'a tar-format backup' ],
);
for my $call (sort keys %refusals)
{
	my ($code, $what) = @{ $refusals{$call} };
	is(sqlstate($primary, "SELECT * FROM $call"), $code, "$what: $code");
}
my ($ret, $out, $err) = $primary->psql('postgres', "SELECT * FROM dr_verify_backup('$root/tarformat')");
like($err, qr/is a tar-format backup/, 'the tar-format error says so');

is(sqlstate($primary, "SELECT * FROM dr_verify_backup('$sha')", 'nobody'), '42501',
	'a role without dr_admin may not verify backups');
is(sqlstate($primary, "SELECT * FROM dr_verify_backup('$sha')", 'watcher'), '42501',
	'dr_monitor may not either');
is(sqlstate($primary, "SELECT * FROM dr_verify_backup_internal('$sha')", 'watcher'), '42501',
	'nor call the C function directly');
is(sqlstate($primary, "SELECT dr_file_sha256('$root/plain_file')", 'nobody'), '42501',
	'nor hash files');
is_deeply([ verify($crc, 'backup_admin') ], [], 'a dr_admin member may');
is($primary->safe_psql('postgres', 'SET ROLE watcher; SELECT count(*) > 0 FROM dr_backups'), 't',
	'dr_monitor reads the catalog');
is(sqlstate($primary, "SELECT * FROM dr_verify_backup('$sha')", 'backup_admin') , '',
	'sanity: no error for the admin');
is(sqlstate($primary, "SET tensafe_dr.backup_root = '/'", 'backup_admin'), '42501',
	'a dr_admin cannot widen tensafe_dr.backup_root');

###############################################################################
# Artifacts (runbook 4.3).
###############################################################################
my $artifact = "$root/app-1.2.3.tar";
open $fh, '>', $artifact or die;
print $fh "release artifact\n" x 1000;
close $fh;
my $digest = Digest::SHA->new(256)->addfile($artifact)->hexdigest;
ok($primary->safe_psql('postgres',
	"SET ROLE backup_admin; SELECT dr_register_artifact('$artifact', upper('$digest'), '{\"release\": \"1.2.3\"}')") > 0,
	'artifact registered (hex accepted in upper case)');
is($primary->safe_psql('postgres', "SET ROLE backup_admin; SELECT ok, actual_sha256 = '$digest' FROM dr_verify_artifact('$artifact')"),
	't|t', 'artifact matches its registered SHA-256');
open $fh, '>>', $artifact or die;
print $fh "tampered";
close $fh;
is($primary->safe_psql('postgres', "SET ROLE backup_admin; SELECT ok, expected_sha256 = '$digest' FROM dr_verify_artifact('$artifact')"),
	'f|t', 'a changed artifact does not');
is($primary->safe_psql('postgres', "SELECT last_result, last_sha256 <> sha256, last_verified_at IS NOT NULL FROM dr_artifacts WHERE path_or_uri = '$artifact'"),
	'mismatch|t|t', 'the last result is kept');
is($primary->safe_psql('postgres', q{
	SELECT string_agg(successful::text, ',' ORDER BY id) FROM dr_events WHERE event_type = 'ARTIFACT_VERIFIED'}),
	'true,false', 'ARTIFACT_VERIFIED events: match then mismatch');
is(sqlstate($primary, "SELECT dr_register_artifact('$artifact', 'abc')", 'backup_admin'), '22023',
	'a SHA-256 that is not 64 hex digits: 22023');
is(sqlstate($primary, "SELECT dr_register_artifact('$artifact', repeat('g', 64))", 'backup_admin'), '22023',
	'non-hex digits: 22023');
is(sqlstate($primary, "SELECT * FROM dr_verify_artifact('$root/plain_file')", 'backup_admin'), '42704',
	'an unregistered artifact: 42704');
is(sqlstate($primary, "SELECT * FROM dr_verify_artifact('/etc/passwd')", 'backup_admin'), '42501',
	'an artifact outside the roots: 42501');
is(sqlstate($primary, "SELECT * FROM dr_verify_artifact('$root/gone.tar')", 'backup_admin'), '58P01',
	'a missing artifact: 58P01');
is(sqlstate($primary, "SELECT * FROM dr_verify_artifact('$artifact')", 'watcher'), '42501',
	'dr_monitor may not verify artifacts');
is(sqlstate($primary, "SELECT dr_register_artifact('x', '$digest')", 'watcher'), '42501',
	'nor register them');

###############################################################################
# dr_status(): the newest verified backup's age against backup_max_age.
###############################################################################
ok(defined wait_until($primary, q{
	SELECT backup_state || ' ' || (newest_backup_at = (SELECT max(stop_time) FROM dr_backups WHERE verification_ok))
	  FROM dr_status()}, 'ok true', 10),
	'dr_status(): backup_state ok, newest_backup_at = the newest verified backup');
$primary->safe_psql('postgres', q{
	ALTER SYSTEM SET tensafe_dr.backup_max_age = '1min'; SELECT pg_reload_conf();
	UPDATE dr_backups SET stop_time = now() - interval '2 hours', start_time = now() - interval '2 hours 1 minute'});
ok(defined wait_until($primary, 'SELECT backup_state FROM dr_status()', 'warning', 10),
	'older than tensafe_dr.backup_max_age: warning');
$primary->safe_psql('postgres', 'UPDATE dr_backups SET verification_ok = false');
ok(defined wait_until($primary, 'SELECT backup_state, newest_backup_at IS NULL FROM dr_status()', 'unknown|t', 10),
	'no verified backup: unknown');
verify($crc);
ok(defined wait_until($primary, 'SELECT backup_state FROM dr_status()', 'ok', 10),
	'a fresh verification: ok again');

###############################################################################
# A standby verifies, but records nothing.
###############################################################################
my $standby = new_standby($primary, 'standby');
my $before = $primary->safe_psql('postgres', 'SELECT count(*) FROM dr_backups');
is($standby->safe_psql('postgres', "SELECT count(*) FROM dr_verify_backup('$crc')"), '0',
	'a standby verifies a clean backup');
is($standby->safe_psql('postgres', "SELECT count(*) FROM dr_verify_backup('$nowal')"), '0',
	'and finds WAL in the archive too');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));
is($standby->safe_psql('postgres', 'SELECT count(*) FROM dr_backups'), $before,
	'without writing to the catalog');
$standby->stop;

$primary->stop;
done_testing();
