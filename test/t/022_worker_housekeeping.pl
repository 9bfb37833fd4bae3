# The workers' tables under hours of samples, compressed (issue 13, item 9).
#
# The worker inserts into and prunes dr_lag_samples (one row per standby per
# tensafe_dr.history_interval, kept for history_retention) and
# dr_wal_positions (one row per interval, kept for position_retention); the
# notifier updates dr_outbox after each attempt.  A worker that never
# reports its statistics (pgstat_report_stat) leaves autovacuum blind: the
# tables' inserts, updates and deletes are never counted, no autovacuum
# runs, and the space of pruned rows is never reused.
#
# Here: history_interval = 1 s (60 times the default pace) with 12
# physical WAL senders attached (pg_receivewal), so 12 lag samples a
# second, retention 10 s; the notifier retries 20 deliveries to a closed
# port every ~20 ms.  Autovacuum is tuned aggressive (naptime 1 s, small
# thresholds).  Asserted: the counters in pg_stat_user_tables equal the
# real numbers (counted by statement triggers with transition tables, in
# the workers' own transactions; the outbox's updates are its attempts),
# dead tuples are seen, autovacuum ran on each table, and the tables'
# sizes stay under a ceiling and stop growing.  The outbox's count is read
# once the notifier has gone idle (every delivery given up after 1,000
# attempts): statistics a worker holds back when it stops committing must
# still be flushed (bgw.c), or the last second's would never be.
use strict;
use warnings;

use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use DrTest;

my $senders = 12;
my $primary = new_primary('hk_primary', <<"CONF");
max_wal_senders = 20
autovacuum = on
autovacuum_naptime = '1s'
autovacuum_vacuum_threshold = 10
autovacuum_vacuum_scale_factor = 0
autovacuum_vacuum_insert_threshold = 10
autovacuum_vacuum_insert_scale_factor = 0
autovacuum_analyze_threshold = 10
autovacuum_analyze_scale_factor = 0
log_autovacuum_min_duration = 0
tensafe_dr.history_interval = '1s'
tensafe_dr.history_retention = '10s'
tensafe_dr.position_retention = '60s'
tensafe_dr.webhook_backoff_base = '10ms'
tensafe_dr.webhook_backoff_max = '20ms'
tensafe_dr.webhook_max_attempts = 1000
tensafe_dr.webhook_connect_timeout = '200ms'
CONF

# The real numbers: statement triggers count the rows each statement
# inserted or deleted, in the same (worker's) transaction.  Created in one
# transaction, whose locks make the worker wait: no row escapes the count.
$primary->safe_psql('postgres', q{
	BEGIN;
	CREATE TABLE tally (tbl text, op text, n bigint);
	CREATE FUNCTION tally_ins() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.tally SELECT TG_TABLE_NAME, 'ins', count(*) FROM new_rows; RETURN NULL; END $$;
	CREATE FUNCTION tally_del() RETURNS trigger LANGUAGE plpgsql AS $$
	BEGIN INSERT INTO public.tally SELECT TG_TABLE_NAME, 'del', count(*) FROM old_rows; RETURN NULL; END $$;
	CREATE TRIGGER t_ins AFTER INSERT ON dr_lag_samples REFERENCING NEW TABLE AS new_rows
		FOR EACH STATEMENT EXECUTE FUNCTION tally_ins();
	CREATE TRIGGER t_del AFTER DELETE ON dr_lag_samples REFERENCING OLD TABLE AS old_rows
		FOR EACH STATEMENT EXECUTE FUNCTION tally_del();
	CREATE TRIGGER t_ins AFTER INSERT ON dr_wal_positions REFERENCING NEW TABLE AS new_rows
		FOR EACH STATEMENT EXECUTE FUNCTION tally_ins();
	CREATE TRIGGER t_del AFTER DELETE ON dr_wal_positions REFERENCING OLD TABLE AS old_rows
		FOR EACH STATEMENT EXECUTE FUNCTION tally_del();
	-- what the worker inserted before (nothing was pruned yet): counted too
	INSERT INTO tally SELECT 'dr_lag_samples', 'ins', count(*) FROM dr_lag_samples;
	INSERT INTO tally SELECT 'dr_wal_positions', 'ins', count(*) FROM dr_wal_positions;
	COMMIT;
});

# 12 physical WAL senders: each one is a standby in dr_replicas, sampled
my @receivers;
for my $i (1 .. $senders)
{
	my $dir = PostgreSQL::Test::Utils::tempdir();
	push @receivers, IPC::Run::start(
		[ 'pg_receivewal', '-h', $primary->host, '-p', $primary->port,
		  '-D', $dir, '--no-sync', '-n' ], '>', \my $out, '2>', \my $err);
}
END { local $?; $_->kill_kill for @receivers; }
ok(defined wait_until($primary, 'SELECT count(*) FROM dr_replicas', $senders, 30),
	"$senders WAL senders attached");

# Deliveries that fail at once (closed port) and are retried every ~20 ms
my $closed = PostgreSQL::Test::Cluster::get_free_port();
$primary->safe_psql('postgres', qq{
	SELECT dr_webhook_add('closed', 'http://127.0.0.1:$closed/hook', 'a-long-test-secret-0123456789',
		ARRAY['HK_TEST']);
	SELECT dr_record_event('HK_TEST', jsonb_build_object('n', g)) FROM generate_series(1, 20) g;
});
my $start = time;

# stats of one table: n_tup_ins n_tup_upd n_tup_del n_dead_tup autovacuum_count size
sub stats
{
	my ($tbl) = @_;
	my @f = split /\|/, $primary->safe_psql('postgres', qq{
		SELECT n_tup_ins, n_tup_upd, n_tup_del, n_dead_tup, autovacuum_count,
		       pg_total_relation_size(relid), pg_relation_size(relid)
		  FROM pg_stat_user_tables WHERE relname = '$tbl'});
	return { ins => $f[0], upd => $f[1], del => $f[2], dead => $f[3], av => $f[4],
		size => $f[5], heap => $f[6] };
}
sub tally
{
	my ($tbl, $op) = @_;
	return $primary->safe_psql('postgres',
		"SELECT coalesce(sum(n), 0) FROM tally WHERE tbl = '$tbl' AND op = '$op'");
}
sub attempts
{
	return $primary->safe_psql('postgres',
		q{SELECT coalesce(sum(attempts), 0) FROM dr_outbox WHERE channel = 'closed'});
}

# Watch for a while, noting the most dead tuples seen and the sizes.
my %max_dead;
my %size_at;
sub watch_until
{
	my ($t, $label) = @_;
	while (time < $start + $t)
	{
		for my $tbl (qw(dr_lag_samples dr_wal_positions dr_outbox))
		{
			my $s = stats($tbl);
			$max_dead{$tbl} = $s->{dead} if $s->{dead} > ($max_dead{$tbl} // 0);
		}
		usleep(250_000);
	}
	$size_at{$label}{$_} = stats($_)->{size} for qw(dr_lag_samples dr_wal_positions dr_outbox);
}
watch_until(45, 'mid');
watch_until(90, 'end');

# The counters equal the real numbers.  Statistics are reported at most once
# a second: wait until they reach what was committed before, and check they
# do not exceed what was committed after.
for my $case ([ 'dr_lag_samples', 'ins', 'ins' ], [ 'dr_lag_samples', 'del', 'del' ],
	[ 'dr_wal_positions', 'ins', 'ins' ], [ 'dr_wal_positions', 'del', 'del' ])
{
	my ($tbl, $op, $col) = @$case;
	my $real_before = tally($tbl, $op);
	my $seen;
	my $deadline = time + 15;
	while (time < $deadline)
	{
		$seen = stats($tbl)->{$col};
		last if $seen >= $real_before;
		usleep(200_000);
	}
	my $real_after = tally($tbl, $op);
	ok($real_before > 0 && $seen >= $real_before && $seen <= $real_after,
		"$tbl: n_tup_$col counts the worker's rows ($seen; real $real_before..$real_after)");
}
cmp_ok(tally('dr_lag_samples', 'ins'), '>=', 800, 'about a thousand lag samples inserted ('
	. tally('dr_lag_samples', 'ins') . ')');
{
	my $real_before = attempts();
	my ($seen, $deadline) = (0, time + 15);
	while (time < $deadline)
	{
		$seen = stats('dr_outbox')->{upd};
		last if $seen >= $real_before;
		usleep(200_000);
	}
	my $real_after = attempts();
	ok($real_before > 500 && $seen >= $real_before && $seen <= $real_after,
		"dr_outbox: n_tup_upd counts the notifier's attempts ($seen; real $real_before..$real_after)");
}

# Dead tuples seen, autovacuum ran on each table.
for my $tbl (qw(dr_lag_samples dr_wal_positions dr_outbox))
{
	cmp_ok($max_dead{$tbl} // 0, '>', 0, "$tbl: dead tuples counted (up to $max_dead{$tbl})");
	ok(defined wait_until($primary,
		"SELECT autovacuum_count > 0 FROM pg_stat_user_tables WHERE relname = '$tbl'", 't', 30),
		"$tbl: autovacuum ran on it (" . stats($tbl)->{av} . ' times)');
}

# Bounded: the rows kept are what the retention allows, and the space of the
# pruned ones is reused.
my $kept = $primary->safe_psql('postgres', 'SELECT count(*) FROM dr_lag_samples');
cmp_ok($kept, '<=', $senders * 13, "dr_lag_samples keeps ~10 s of samples ($kept rows)");
my $positions = $primary->safe_psql('postgres', 'SELECT count(*) FROM dr_wal_positions');
cmp_ok($positions, '<=', 63, "dr_wal_positions keeps ~60 s of samples ($positions rows)");

# Ceilings.  dr_lag_samples keeps ~130 rows of ~130 bytes: 2-3 heap pages,
# as many index pages, plus its free space and visibility maps (4 pages):
# 72 kB measured.  Unvacuumed it would hold every row ever inserted, over
# 1,000: ~20 heap pages and ~5 index pages, 200 kB and more.
my $ins = tally('dr_lag_samples', 'ins');
my $lag_end = $size_at{end}{dr_lag_samples};
cmp_ok($lag_end, '<=', 96 * 1024, "dr_lag_samples: $lag_end bytes after $ins samples (ceiling 96 kB)");
cmp_ok($lag_end, '<=', $size_at{mid}{dr_lag_samples} + 3 * 8192,
	"dr_lag_samples stops growing: $size_at{mid}{dr_lag_samples} bytes at 45 s, $lag_end at 90 s");
# 20 rows of ~1.5 kB: one row version per update would be 30 MB
cmp_ok($size_at{end}{dr_outbox}, '<=', 512 * 1024,
	"dr_outbox: $size_at{end}{dr_outbox} bytes after " . attempts() . ' updates of 20 rows');
cmp_ok($size_at{end}{dr_outbox}, '<=', $size_at{mid}{dr_outbox} + 3 * 8192,
	"dr_outbox stops growing: $size_at{mid}{dr_outbox} bytes at 45 s, $size_at{end}{dr_outbox} at 90 s");
diag(sprintf('sizes mid/end: lag %d/%d, positions %d/%d, outbox %d/%d',
	map { ($size_at{mid}{$_}, $size_at{end}{$_}) } qw(dr_lag_samples dr_wal_positions dr_outbox)));

done_testing();
