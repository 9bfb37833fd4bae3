# Promotion as a judged, recorded decision; incidents; failback waits;
# RPO state events; bounded lag history.
use strict;
use warnings;

use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use DrTest;

my $conf = <<'CONF';
tensafe_dr.rpo_max = '8s'
tensafe_dr.rpo_target = '4s'
tensafe_dr.promote_max_lag = '6s'
tensafe_dr.history_interval = '1s'
tensafe_dr.history_retention = '10s'
CONF

my $primary = new_primary('primary', $conf);
$primary->safe_psql('postgres', 'CREATE TABLE load (id bigserial PRIMARY KEY, at timestamptz DEFAULT now())');
my $standby = new_standby($primary, 'standby');
my $standby2 = new_standby($primary, 'standby2');
my $write = sub { $primary->safe_psql('postgres', 'INSERT INTO load DEFAULT VALUES') };

ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30), 'standby ok');
ok(defined wait_until($standby2, "SELECT rpo_state FROM dr_status()", 'ok', 30), 'standby2 ok');

my $incident = $primary->safe_psql('postgres', q{SELECT dr_declare(3, 'region A unreachable')});
like($incident, qr/^\d+$/, "incident $incident declared");

###############################################################################
# A breaching standby is refused; the refusal is a SQLSTATE and a record.
###############################################################################
$standby2->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
ok(defined wait_until($standby2, "SELECT rpo_state FROM dr_status()", 'breach', 40, $write),
	'standby2 with paused replay reaches breach');

my ($promotable, $reason) = split /\|/, $standby2->safe_psql('postgres',
	'SELECT promotable, reason FROM dr_promote_check()');
is($promotable, 'f', 'dr_promote_check: not promotable');
like($reason, qr/replay_lag [\d.]+ s exceeds the gate 6\.0 s/, "reason: $reason");

my ($ret, $out, $err) = $standby2->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM dr_promote();");
isnt($ret, 0, 'dr_promote() refuses');
like($err, qr/ERROR:  55000: promotion refused: replay_lag/, 'with SQLSTATE 55000 and the reason');
like($err, qr/DETAIL:  exposure .* gate 00:00:06/, 'detail carries the figures');
like($err, qr/HINT:  .*force => true/, 'hint gives the way out');
is($standby2->safe_psql('postgres', 'SELECT pg_is_in_recovery()'), 't', 'still a standby');
is($standby2->safe_psql('postgres',
	"SELECT count(*) FROM dr_events WHERE event_type = 'PROMOTE_REFUSED' AND pending AND NOT successful"),
	'1', 'refusal journalled on the standby');

# The worker recorded the RPO state changes, on the standby through the journal.
ok(defined wait_until($standby2,
	"SELECT count(*) >= 1 FROM dr_events WHERE event_type = 'RPO_BREACH' AND pending", 't', 10),
	'standby2 journalled RPO_BREACH');
my $breach = $standby2->safe_psql('postgres',
	"SELECT details->>'state', (details->>'replay_lag_s')::numeric >= 8, details->>'rpo_max_s' FROM dr_events WHERE event_type = 'RPO_BREACH' ORDER BY occurred_at LIMIT 1");
is($breach, 'breach|t|8', 'RPO_BREACH carries its figures');
is($standby2->safe_psql('postgres',
	"SELECT count(*) >= 1 FROM dr_events WHERE event_type = 'RPO_WARNING'"), 't',
	'RPO_WARNING before it');
# The primary records standby2's breach as its own (STANDBY_LAGGING); since
# 1.2 the primary's state follows its best copy (standby), so it stays ok.
ok(defined wait_until($primary,
	"SELECT count(*) >= 1 FROM dr_event_log WHERE event_type = 'STANDBY_LAGGING' AND details->>'standby' = 'standby2' AND details->>'rpo_state' = 'breach'", 't', 10),
	"primary recorded standby2's breach in dr_event_log (STANDBY_LAGGING)");
is($primary->safe_psql('postgres', 'SELECT rpo_state FROM dr_status()'), 'ok',
	'the primary itself is ok: standby holds its data');
like($primary->safe_psql('postgres', 'SELECT state_reason FROM dr_status()'), qr/standby "standby2" lagging/,
	'and names standby2 lagging');

###############################################################################
# Forced promotion works and is recorded as forced.
###############################################################################
my $forced = $standby2->safe_psql('postgres',
	'SELECT promoted, forced, timeline_after > timeline_before FROM dr_promote(force => true)');
is($forced, 't|t|t', 'dr_promote(force => true) promoted, timeline moved');
ok(defined wait_until($standby2,
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'PROMOTED' AND (details->>'forced')::boolean",
	'1', 30), 'PROMOTED recorded with forced = true on the new primary');
is($standby2->safe_psql('postgres',
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'PROMOTE_REFUSED'"), '1',
	'the earlier refusal was flushed too, once');
$standby2->stop('immediate');

###############################################################################
# Failback waits.
###############################################################################
$standby->safe_psql('postgres', 'SELECT pg_wal_replay_pause()');
$write->() for 1 .. 3;
ok(defined wait_until($standby, "SELECT (replay_lag > '1.5 s')::text FROM dr_status()", 'true', 20, $write),
	'paused standby falls behind');
my $t0 = time;
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lag('1 s', '1.5 s')"), 'f',
	'dr_wait_for_lag: false on timeout');
cmp_ok(time - $t0, '>=', 1.4, 'it did wait for the timeout');
($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\nSELECT dr_wait_for_lag('1 s', '-1 s');");
like($err, qr/22023: timeout must be between 0 and 1 day/, 'negative timeout refused with 22023');

$standby->safe_psql('postgres', 'SELECT pg_wal_replay_resume()');
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lag('2 s', '30 s')"), 't',
	'dr_wait_for_lag: true once caught up');
my $lsn = $primary->safe_psql('postgres', 'SELECT pg_current_wal_flush_lsn()');
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lsn('$lsn', '30 s')"), 't',
	'dr_wait_for_lsn on the standby');
is($primary->safe_psql('postgres', "SELECT dr_wait_for_lsn('$lsn', '30 s')"), 't',
	'dr_wait_for_lsn on the primary (its standby replayed it)');
is($standby->safe_psql('postgres', "SELECT dr_wait_for_lsn('FFFFFFFF/0', '0.3 s')"), 'f',
	'dr_wait_for_lsn: false on timeout');
ok(defined wait_until($standby, "SELECT rpo_state FROM dr_status()", 'ok', 30), 'standby ok again');

###############################################################################
# History stays bounded past its retention (10 s, sampled every second).
###############################################################################
ok(defined wait_until($primary,
	"SELECT now() - pg_postmaster_start_time() > interval '14 s'", 't', 60),
	'history sampled for longer than its retention');
my ($rows, $span) = split /\|/, $primary->safe_psql('postgres',
	"SELECT count(*), extract(epoch FROM max(sampled_at) - min(sampled_at)) FROM dr_lag_history WHERE standby_name = 'standby'");
cmp_ok($rows, '>', 3, "history is sampled ($rows rows)");
cmp_ok($span, '<=', 12, "history spans at most retention + a sample ($span s)");
cmp_ok($rows, '<=', 14, 'history rows stay bounded');

###############################################################################
# Normal promotion within the gate, recorded with its figures, and the
# incident resolved with its RTO judged and its post-mortem written.
###############################################################################
$primary->stop('fast');
my $promoted = $standby->safe_psql('postgres',
	'SELECT promoted, forced, timeline_before, timeline_after, exposure < \'6 s\' FROM dr_promote()');
my ($p_ok, $p_forced, $tli_b, $tli_a, $p_within) = split /\|/, $promoted;
is("$p_ok|$p_forced", 't|f', 'normal promotion succeeded, not forced');
cmp_ok($tli_a, '>', $tli_b, "timeline $tli_b -> $tli_a");
is($p_within, 't', 'exposure at promotion within the gate');

ok(defined wait_until($standby,
	"SELECT count(*) FROM dr_event_log WHERE event_type = 'PROMOTED'", '1', 30),
	'PROMOTED landed in dr_events on the new primary');
my $figures = $standby->safe_psql('postgres', q{
	SELECT (details->>'forced')::boolean, (details->>'timeline_before')::int < (details->>'timeline_after')::int,
	       details ? 'rpo_lag_s', details ? 'replay_lag_s', (details->>'elapsed_s')::numeric >= 0,
	       incident_id = } . $incident . q{
	  FROM dr_event_log WHERE event_type = 'PROMOTED'});
is($figures, 'f|t|t|t|t|t', 'PROMOTED has force, timelines, lags, elapsed time and the incident');

my ($inc, $rto, $state) = split /\|/, $standby->safe_psql('postgres',
	"SELECT incident_id, extract(epoch FROM rto) > 0, rto_state FROM dr_resolve($incident, 'promoted standby')");
is("$inc|$rto|$state", "$incident|t|met", 'incident resolved, RTO measured and met');
my $pm = $standby->safe_psql('postgres', "SELECT dr_postmortem($incident)");
like($pm, qr/^# Incident Post-Mortem: region A unreachable/, 'post-mortem title');
like($pm, qr/- \d\d:\d\d:\d\d UTC \(\+[\d:]+\) - DR_INITIATED on primary.*- [\d:]+ UTC \(\+[\d:]+\) - PROMOTED on standby.*DR_COMPLETE/s,
	'post-mortem timeline: declared, promoted, completed');
like($pm, qr/Exposure at promotion: [\d.]+ s of rpo_lag/, 'post-mortem carries the promotion figures');
like($pm, qr/RTO target met/, 'post-mortem judges the RTO');

# Promote on a primary: a clear error.
($ret, $out, $err) = $standby->psql('postgres', "\\set VERBOSITY verbose\nSELECT * FROM dr_promote();");
like($err, qr/55000: this node is not a standby/, 'promote on a primary: 55000');

$standby->stop;
done_testing();
