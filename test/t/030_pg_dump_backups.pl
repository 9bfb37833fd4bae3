# pg_dump backups (issue 17, runbook 4.1 / 4.2): real custom-format pg_dump
# archives of a real database under tensafe_dr.backup_root verified by
# dr_verify_dump() -- database name, TOC entries (against pg_restore --list),
# dump time and SHA-256 (against Digest::SHA) recorded in dr_backups; gzip,
# uncompressed and piped (no data offsets) archives; crafted archives that
# pg_restore --list also reads (a 1 GB data block read with flat memory);
# refusals with their SQLSTATE: a corrupted TOC (pg_restore refuses it too), a
# truncated file (mid-block, inside the TOC, and cut exactly between blocks), a
# changed archive against its recorded and an expected SHA-256, plain / tar /
# directory dumps, a symbolic link, a file outside backup_root, a missing one,
# a huge sparse file and a TOC over tensafe_dr.max_dump_toc_size, roles without
# dr_admin; refuse => false recording the failure; dr_status()'s backup_state
# counting dumps (unknown -> warning for an old one -> ok -> warning again once
# the fresh one fails); dr_pitr_plan() refusing with 55000 and the reason when
# only dumps are recorded, with a target between two dumps.
use strict;
use warnings;

use Digest::SHA;
use Fcntl qw(SEEK_CUR);
use File::Copy;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $root = PostgreSQL::Test::Utils::tempdir();
my $outside = PostgreSQL::Test::Utils::tempdir();
my $pg_bin = '/usr/lib/postgresql/15/bin';

my $primary = new_primary('primary', <<"CONF");
tensafe_dr.backup_root = '$root'
CONF
$primary->safe_psql('postgres', q{
	CREATE ROLE backup_admin LOGIN IN ROLE dr_admin;
	CREATE ROLE op LOGIN IN ROLE dr_operator;
	CREATE ROLE watcher LOGIN IN ROLE dr_monitor;
	CREATE ROLE nobody LOGIN;
	CREATE DATABASE appdb;
});
$primary->safe_psql('appdb', q{
	CREATE TABLE accounts (id int PRIMARY KEY, owner text, balance numeric);
	INSERT INTO accounts SELECT g, 'owner-' || g, g * 10 FROM generate_series(1, 5000) g;
	INSERT INTO accounts VALUES (0, 'needle-row-0123456789', 0);
	CREATE TABLE audit (at timestamptz DEFAULT now(), what text);
	INSERT INTO audit (what) SELECT 'event ' || g FROM generate_series(1, 300) g;
	CREATE VIEW rich AS SELECT * FROM accounts WHERE balance > 1000;
	CREATE INDEX ON audit (at);
	SELECT lo_from_bytea(0, 'a large object');
});
# pg_dump writes its local time without a zone; the server reads it in its
# log_timezone: run pg_dump in that zone, as on the database host
my $server_tz = $primary->safe_psql('postgres', 'SHOW log_timezone');

# sqlstate(sql[, role]) -> (SQLSTATE, message, detail, hint) of the error, '' if none
sub sqlstate
{
	my ($sql, $role) = @_;
	my $set = $role ? "SET ROLE $role;\n" : '';
	my ($ret, $out, $err) = $primary->psql('postgres', "\\set VERBOSITY verbose\n$set$sql");
	my ($code, $msg) = $err =~ /ERROR:\s+([0-9A-Z]{5}):\s+(.*)/ ? ($1, $2) : ('', $err);
	my ($detail) = $err =~ /DETAIL:\s+(.*)/;
	my ($hint) = $err =~ /HINT:\s+(.*)/;
	return wantarray ? ($code, $msg, $detail // '', $hint // '') : $code;
}

sub verify
{
	my ($path, $extra) = @_;
	$extra //= '';
	return $primary->safe_psql('postgres', qq{
		SET ROLE backup_admin;
		SELECT backup_id IS NOT NULL, database_name, toc_entries, data_blocks, size_bytes, sha256, ok,
		       coalesce(problem, ''), coalesce(problem_sqlstate, '')
		  FROM dr_verify_dump('$path'$extra)});
}

sub server_now
{
	return $primary->safe_psql('postgres', 'SELECT clock_timestamp()');
}

sub pg_dump
{
	my ($file, @opts) = @_;
	local $ENV{TZ} = $server_tz;
	command_ok([ "$pg_bin/pg_dump", '-h', $primary->host, '-p', $primary->port,
		@opts, '-f', $file, 'appdb' ], "pg_dump @opts -f " . ($file =~ s{.*/}{}r));
}

sub sha256_of
{
	return Digest::SHA->new(256)->addfile($_[0])->hexdigest;
}

# TOC entries as pg_restore --list counts them ("TOC Entries: N" in its header)
sub pg_restore_entries
{
	my ($file) = @_;
	my ($out, $err);
	my $ok = IPC::Run::run([ "$pg_bin/pg_restore", '--list', $file ], '>', \$out, '2>', \$err);
	return "error: $err" unless $ok;
	return $out =~ /TOC Entries: (\d+)/ ? $1 : "no count in: $out";
}

sub slurp
{
	my ($path) = @_;
	open my $fh, '<:raw', $path or die "$path: $!";
	local $/;
	return scalar <$fh>;
}

sub spew
{
	my ($path, $data) = @_;
	open my $fh, '>:raw', $path or die "$path: $!";
	print $fh $data;
	close $fh or die "$path: $!";
}

###############################################################################
# Nothing verified yet: backup_state unknown.
###############################################################################
ok(defined wait_until($primary, 'SELECT backup_state FROM dr_status()', 'unknown', 10),
	'no backup yet: backup_state unknown');

###############################################################################
# Crafted archives (the custom format written by hand, pg_restore --list
# agreeing that they are archives): an old dump for freshness, a 1 GB data
# block, a TOC over the limit, a file cut between blocks.
###############################################################################
sub wint { my ($v) = @_; return pack('C', $v < 0 ? 1 : 0) . pack('V', abs $v); }
sub wstr { my ($s) = @_; return defined $s ? wint(length $s) . $s : wint(-1); }

# craft(file, year, [data block sizes], %opt): a 1.14 archive of database
# 'crafted' dated 1 June of year, 12:00:00, one TABLE DATA entry per block
sub craft
{
	my ($file, $year, $blocks, %opt) = @_;
	my $head = 'PGDMP' . pack('CCC', 1, 14, 0) . pack('CCC', 4, 8, 1) . wint(0)
	  . join('', map { wint($_) } 0, 0, 12, 1, 5, $year - 1900, 0)
	  . wstr('crafted') . wstr('15.0') . wstr('15.0');
	my @entries;
	for my $i (1 .. @$blocks)
	{
		push @entries, wint($i) . wint(1) . wstr('0') . wstr('0') . wstr("t$i") . wstr('TABLE DATA')
		  . wint(3) . wstr('') . wstr('')
		  . wstr("COPY public.t$i (x) FROM stdin;\n") . wstr('public') . wstr('') . wstr('')
		  . wstr('postgres') . wstr('false') . wstr(undef);
	}
	# offsets: fixed width (9 bytes each), so the TOC's length is known first
	my $toc_len = length($head) + 5 + 9 * @entries;
	$toc_len += length($_) for @entries;
	my $off = $toc_len;
	my $toc = wint(scalar @entries);
	for my $i (0 .. $#entries)
	{
		$toc .= $entries[$i] . pack('C', 2) . pack('Q<', $off);
		$off += 1 + 5 + 5 + $blocks->[$i] + 5;
	}
	if ($opt{defn_len})
	{
		# the first entry's definition claims defn_len bytes (the file is sparse)
		my $e = wint(1) . wint(1) . wstr('0') . wstr('0') . wstr('t1') . wstr('TABLE DATA') . wint(3);
		open my $fh, '>:raw', $file or die;
		print $fh $head . wint(1) . $e . wint($opt{defn_len});
		seek($fh, $opt{defn_len} + 100, SEEK_CUR) or die;
		print $fh "\0";
		close $fh or die;
		return;
	}
	open my $fh, '>:raw', $file or die "$file: $!";
	print $fh $head . $toc;
	for my $i (0 .. $#$blocks)
	{
		last if defined $opt{keep_blocks} && $i >= $opt{keep_blocks};
		print $fh pack('C', 1) . wint($i + 1) . wint($blocks->[$i]);
		if ($blocks->[$i] > 1_000_000)
		{
			seek($fh, $blocks->[$i], SEEK_CUR) or die;    # sparse zeros
		}
		else
		{
			print $fh "x" x $blocks->[$i];
		}
		print $fh wint(0);
	}
	close $fh or die "$file: $!";
}

craft("$root/old_2020.dump", 2020, [ 10, 20 ]);
is(pg_restore_entries("$root/old_2020.dump"), 2, 'a crafted archive: pg_restore --list reads it');
is(verify("$root/old_2020.dump"), 't|crafted|2|2|' . (-s "$root/old_2020.dump") . '|'
	. sha256_of("$root/old_2020.dump") . '|t||', 'the crafted archive verifies');
is($primary->safe_psql('postgres', qq{
	SELECT stop_time = start_time, stop_time = '2020-06-01 12:00:00'::timestamp AT TIME ZONE '$server_tz'
	  FROM dr_backups WHERE path = '$root/old_2020.dump'}),
	't|t', 'its dump time is the one in its header, read in the server\'s zone');
ok(defined wait_until($primary, 'SELECT backup_state FROM dr_status()', 'warning', 10),
	'a verified dump from 2020 counts for backup_state: warning (older than backup_max_age)');

# cut exactly between the blocks: every block whole, one missing
craft("$root/cut_between.dump", 2024, [ 10, 20 ], keep_blocks => 1);
my @r = sqlstate("SELECT * FROM dr_verify_dump('$root/cut_between.dump')", 'backup_admin');
is($r[0], 'XX001', 'an archive cut between two data blocks: XX001');
like($r[1], qr/TOC lists 2 data blocks, the file holds 1/, '... the message says a block is missing');

# a 1 GB data block: read to the end, hashed, memory flat
craft("$root/big.dump", 2024, [ 1024 * 1024 * 1024 - 1 ]);
is(pg_restore_entries("$root/big.dump"), 1, 'a 1 GB crafted archive: pg_restore --list reads it');
my $hwm_sql = q{SELECT (regexp_match(pg_read_file('/proc/self/status'), 'VmHWM:\s+(\d+)'))[1]};
my $t0 = time;
# the baseline after a small verification in the same session (PL/pgSQL
# compiled, caches warm), so the difference is the big archive's alone
my $out = $primary->safe_psql('postgres', qq{
	SET ROLE backup_admin;
	SELECT FROM dr_verify_dump('$root/old_2020.dump');
	RESET ROLE;
	$hwm_sql;
	SET ROLE backup_admin;
	SELECT ok, size_bytes, sha256 FROM dr_verify_dump('$root/big.dump');
	RESET ROLE;
	$hwm_sql;});
my $secs = time - $t0;
my ($hwm0, $res, $hwm1) = grep { $_ ne '' } split /\n/, $out;
is($res, 't|' . (-s "$root/big.dump") . '|' . sha256_of("$root/big.dump"),
	'the 1 GB archive verifies, with the SHA-256 of the whole file');
cmp_ok($hwm1 - $hwm0, '<', 8 * 1024, 'peak memory of the backend grew by less than 8 MB');
diag(sprintf('1 GB archive: %.2f s, peak memory %+d kB', $secs, $hwm1 - $hwm0));

# a TOC whose definition claims 1 GB: refused before it is read
craft("$root/huge_toc.dump", 2024, [1], defn_len => 1_000_000_000);
$t0 = time;
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/huge_toc.dump')", 'backup_admin');
is($r[0], '54000', 'a TOC larger than tensafe_dr.max_dump_toc_size: 54000');
like($r[3], qr/tensafe_dr\.max_dump_toc_size/, '... the hint names the setting');
cmp_ok(time - $t0, '<', 5, '... refused without reading it');

# a huge sparse file that is no archive
{
	open my $fh, '>:raw', "$root/huge.dump" or die;
	truncate($fh, 8 * 1024 * 1024 * 1024) or die "truncate: $!";
	close $fh;
}
$t0 = time;
is(sqlstate("SELECT * FROM dr_verify_dump('$root/huge.dump')", 'backup_admin'), '22023',
	'an 8 GB sparse file of zeros: 22023 (not a pg_dump archive)');
cmp_ok(time - $t0, '<', 5, '... at once');

###############################################################################
# Real pg_dump archives of appdb.
###############################################################################
my $before = server_now();
pg_dump("$root/app.dump", '-Fc');
pg_dump("$root/app_z0.dump", '-Fc', '-Z0');
my $after = server_now();
{
	local $ENV{TZ} = $server_tz;
	system("$pg_bin/pg_dump -h '" . $primary->host . "' -p " . $primary->port
		  . " -Fc appdb | cat > '$root/app_pipe.dump'") == 0 or die 'piped pg_dump failed';
}
my $entries = pg_restore_entries("$root/app.dump");
cmp_ok($entries, '>=', 8, "pg_restore --list counts $entries TOC entries");

for my $f (qw(app app_z0 app_pipe))
{
	my $file = "$root/$f.dump";
	is(verify($file), "t|appdb|$entries|3|" . (-s $file) . '|' . sha256_of($file) . '|t||',
		"$f.dump: database, TOC entries, data blocks (two tables, the large objects), size, SHA-256");
}
is($primary->safe_psql('postgres', qq{
	SELECT source, label LIKE 'appdb %', verification_ok, problems,
	       start_time >= date_trunc('second', '$before'::timestamptz) AND start_time <= '$after',
	       stop_time = start_time, (details->>'toc_entries')::int, details->>'database',
	       details->>'sha256' = '${\ sha256_of("$root/app.dump")}',
	       details->>'compression', details->>'archive_version', details->>'server_version' LIKE '15.%'
	  FROM dr_backups WHERE path = '$root/app.dump'}),
	"pg_dump|t|t|0|t|t|$entries|appdb|t|gzip|1.14-0|t",
	'catalog row: source pg_dump, dump time within the pg_dump run (to its second), entries, checksum');
is($primary->safe_psql('postgres', qq{
	SELECT details->>'compression' FROM dr_backups WHERE path = '$root/app_z0.dump'}),
	'none', 'pg_dump -Z0: compression none');
is($primary->safe_psql('postgres', qq{
	SELECT count(*), bool_and(successful) FROM dr_events
	 WHERE event_type = 'BACKUP_VERIFIED' AND details->>'source' = 'pg_dump'
	   AND details->>'path' = '$root/app.dump' AND details->>'database' = 'appdb'}),
	'1|t', 'a BACKUP_VERIFIED event, successful');
verify("$root/app.dump");
is($primary->safe_psql('postgres', "SELECT count(*) FROM dr_backups WHERE path = '$root/app.dump'"),
	'1', 'verifying it again updates the same row');
ok(defined wait_until($primary, qq{
	SELECT backup_state || ' ' || (newest_backup_at = (SELECT max(stop_time) FROM dr_backups WHERE source = 'pg_dump' AND verification_ok))
	  FROM dr_status()}, 'ok true', 10),
	'the fresh dumps count for freshness: backup_state ok, newest_backup_at their dump time');
is($primary->safe_psql('postgres', q{
	SELECT verification_state, newest_verified IS NOT NULL FROM dr_backup_status
	 WHERE source = 'pg_dump' AND path LIKE '%/app.dump'}),
	'ok|t', 'dr_backup_status shows it verified');

###############################################################################
# Checksums: against an expected one and the recorded one.
###############################################################################
my $app_sha = sha256_of("$root/app.dump");
is(verify("$root/app.dump", ", expected_sha256 => '" . uc($app_sha) . "'"),
	"t|appdb|$entries|3|" . (-s "$root/app.dump") . "|$app_sha|t||",
	'the expected SHA-256 (any case) matches');
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/app.dump', repeat('0', 64))", 'backup_admin');
is($r[0], 'XX001', 'a different expected SHA-256: XX001');
like($r[2], qr/Expected 0{64}, the file's is $app_sha/, '... the detail gives both');

# change a row's bytes inside the -Z0 archive's data: the framing stays whole
my $z0 = slurp("$root/app_z0.dump");
my $at = index($z0, 'needle-row-0123456789');
ok($at > 0, 'the row is in the uncompressed archive');
substr($z0, $at + 11, 1) = '9';
spew("$root/app_z0.dump", $z0);
is(pg_restore_entries("$root/app_z0.dump"), $entries, 'pg_restore --list still reads the changed archive');
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/app_z0.dump')", 'backup_admin');
is($r[0], 'XX001', 'an archive changed since it was verified: XX001');
like($r[1], qr/not the one recorded/, '... against the recorded SHA-256');
is($primary->safe_psql('postgres', "SELECT verification_ok FROM dr_backups WHERE path = '$root/app_z0.dump'"),
	't', '... refused: nothing recorded');
is(verify("$root/app_z0.dump", ', refuse => false') =~ s/\|[0-9a-f]{64}\|/|sha|/r,
	"t|appdb|$entries|3|" . (-s "$root/app_z0.dump") . "|sha|f|the archive's SHA-256 is not the one recorded when it was verified|XX001",
	'refuse => false: returned as a row');
is($primary->safe_psql('postgres', "SELECT verification_ok, problems, details->>'sqlstate' FROM dr_backups WHERE path = '$root/app_z0.dump'"),
	'f|1|XX001', '... and recorded as failed');

###############################################################################
# Corrupt and truncated archives.
###############################################################################
my $app = slurp("$root/app.dump");
# the header's length: 11 bytes, the compression int, 7 ints, 3 strings
my $pos = 11 + 5 + 35;
for (1 .. 3)
{
	my $len = unpack('V', substr($app, $pos + 1, 4));
	$pos += 5 + $len;
}
# the first TOC entry's dump id (after the count) made negative
my $bad = $app;
substr($bad, $pos + 5, 1) = "\x01";
spew("$root/bad_toc.dump", $bad);
like(pg_restore_entries("$root/bad_toc.dump"), qr/error:.*corrupt TOC/, 'pg_restore --list refuses the corrupted TOC');
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/bad_toc.dump')", 'backup_admin');
is($r[0], 'XX001', 'a corrupted TOC: XX001');
like($r[1], qr/refused: a TOC entry's dump id -\d+ out of range/, '... says what is wrong');
like($r[2], qr/At byte \d+ of \d+\./, '... and where');

spew("$root/trunc_half.dump", substr($app, 0, int(length($app) / 2)));
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/trunc_half.dump')", 'backup_admin');
is($r[0], 'XX001', 'an archive cut in half: XX001');
like($r[1], qr/unexpected end of file/, '... unexpected end of file');
spew("$root/trunc_toc.dump", substr($app, 0, $pos + 40));
is(sqlstate("SELECT * FROM dr_verify_dump('$root/trunc_toc.dump')", 'backup_admin'), 'XX001',
	'an archive cut inside its TOC: XX001');
spew("$root/empty.dump", '');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/empty.dump')", 'backup_admin'), '22023',
	'an empty file: 22023');
my $v99 = $app;
substr($v99, 6, 1) = chr(99);
spew("$root/v99.dump", $v99);
is(sqlstate("SELECT * FROM dr_verify_dump('$root/v99.dump')", 'backup_admin'), '0A000',
	'archive version 1.99: 0A000');

# other pg_dump formats
pg_dump("$root/app.sql", '-Fp');
pg_dump("$root/app.tar", '-Ft');
pg_dump("$root/app_dir", '-Fd');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/app.sql')", 'backup_admin'), '22023', 'a plain SQL dump: 22023');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/app.tar')", 'backup_admin'), '22023', 'a tar-format dump: 22023');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/app_dir')", 'backup_admin'), '22023', 'a directory-format dump: 22023');
@r = sqlstate("SELECT * FROM dr_verify_dump('$root/app_dir/toc.dat')", 'backup_admin');
is($r[0], '22023', 'a directory-format toc.dat: 22023');
like($r[1], qr/directory-format/, '... named as such');

###############################################################################
# Paths and privileges.
###############################################################################
copy("$root/app.dump", "$outside/app.dump") or die;
symlink("$root/app.dump", "$root/link_inside.dump") or die;
symlink("$outside/app.dump", "$root/link_outside.dump") or die;
is(sqlstate("SELECT * FROM dr_verify_dump('$outside/app.dump')", 'backup_admin'), '42501',
	'an archive outside backup_root: 42501');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/link_outside.dump')", 'backup_admin'), '42501',
	'a symbolic link to an archive outside: 42501');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/link_inside.dump')", 'backup_admin'), '42501',
	'a symbolic link to an archive inside: 42501 (no link is followed)');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/../" . ($outside =~ s{.*/}{}r) . "/app.dump')", 'backup_admin'),
	'42501', '.. out of the root: 42501');
is(sqlstate("SELECT * FROM dr_verify_dump('$root/gone.dump')", 'backup_admin'), '58P01',
	'a missing archive: 58P01');
for my $role (qw(op watcher nobody))
{
	is(sqlstate("SELECT * FROM dr_verify_dump('$root/app.dump')", $role), '42501',
		"$role may not verify dumps: 42501");
}
is($primary->safe_psql('postgres', q{
	SELECT has_function_privilege('public', 'dr_verify_dump(text,text,boolean)', 'EXECUTE'),
	       has_function_privilege('public', 'dr_dump_inspect(text)', 'EXECUTE')}),
	'f|f', 'not executable by PUBLIC');

###############################################################################
# The fresh dump fails: it no longer counts; the old one is the newest.
###############################################################################
for my $f (qw(app app_pipe))
{
	# a byte of compressed data changed: only the checksum can tell
	my $flipped = slurp("$root/$f.dump");
	substr($flipped, length($flipped) - 30, 1) = chr(ord(substr($flipped, length($flipped) - 30, 1)) ^ 0xff);
	spew("$root/$f.dump", $flipped);
	like(verify("$root/$f.dump", ', refuse => false'), qr/\|f\|the archive's SHA-256 is not the one recorded when it was verified\|XX001$/,
		"$f.dump with a compressed byte changed: failed against its recorded SHA-256");
}
$primary->safe_psql('postgres', "UPDATE dr_backups SET verification_ok = false WHERE path = '$root/app_z0.dump'");
is($primary->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE verification_ok) FROM dr_backups WHERE label LIKE 'appdb %'}),
	'0', 'the appdb dumps are recorded as failed');
ok(defined wait_until($primary, 'SELECT backup_state FROM dr_status()', 'warning', 10),
	'failed dumps do not count: backup_state warning again (the 2020 dump)');

###############################################################################
# dr_pitr_plan(): a logical dump restores only to its own time.
###############################################################################
pg_dump("$root/first.dump", '-Fc');
verify("$root/first.dump");
my $first = $primary->safe_psql('postgres', "SELECT stop_time FROM dr_backups WHERE path = '$root/first.dump'");
# the next dump at least 1.5 s later (dump times are whole seconds)
my $deadline = time + 10;
usleep(100_000) while $primary->safe_psql('postgres', "SELECT clock_timestamp() > '$first'::timestamptz + interval '1.5 s'") ne 't'
  && time < $deadline;
die 'the clock did not pass the first dump time + 1.5 s'
  unless $primary->safe_psql('postgres', "SELECT clock_timestamp() > '$first'::timestamptz + interval '1.5 s'") eq 't';
pg_dump("$root/second.dump", '-Fc');
verify("$root/second.dump");
my ($first_id, $second_id) = split /\n/, $primary->safe_psql('postgres',
	"SELECT id FROM dr_backups WHERE path IN ('$root/first.dump', '$root/second.dump') ORDER BY stop_time");
my ($code, $msg, $detail, $hint) = sqlstate(
	"SELECT * FROM dr_pitr_plan('$first'::timestamptz + interval '0.7 s')", 'watcher');
is($code, '55000', 'a target time between two dumps, no base backup: 55000');
like($msg, qr/only pg_dump archives are recorded, and a pg_dump archive restores only to the time it was taken/,
	'... the reason: a dump restores only to its own time');
like($detail, qr/newest at or before the target is id $first_id .*the next is id $second_id .*a recovery to a time in between needs a verified base backup taken before the target plus the WAL archived from it/,
	'... the detail names both dumps and what a time in between needs');
like($hint, qr/restore dump $first_id with pg_restore/, '... the hint: pg_restore that dump');
is($primary->safe_psql('postgres', qq{
	SELECT feasible, sqlstate, backup_id IS NULL
	  FROM dr_pitr_plan('$first'::timestamptz + interval '0.7 s', refuse => false)}),
	'f|55000|t', 'refuse => false: the same refusal as a row');
is(sqlstate("SELECT * FROM dr_pitr_plan(pg_current_wal_lsn())", 'watcher'), '55000',
	'an LSN target with only dumps: 55000');
is(sqlstate("SELECT * FROM dr_pitr_plan(now() - interval '1 s')", 'watcher'), '55000',
	'a time after the newest dump: 55000 (a dump is not a point in time to recover past)');

# nightly.dump overwritten by the next night's: the earlier one is gone
copy("$root/second.dump", "$root/first.dump") or die;
verify("$root/first.dump");
is($primary->safe_psql('postgres', qq{
	SELECT string_agg(verification_ok::text || ' ' || coalesce(details->>'problem', '-'), ', ' ORDER BY id)
	  FROM dr_backups WHERE path = '$root/first.dump'}),
	'false replaced by another archive at the same path, true -',
	'another archive verified at the same path: the one recorded there before is marked replaced');

$primary->stop;
done_testing();
