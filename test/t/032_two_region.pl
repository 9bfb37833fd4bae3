# The runbook's own architecture (1.2), end to end, and its Level 3 drill
# (3.1): region A = etcd + a Patroni cluster of two nodes; region B = its own
# etcd + a Patroni *standby cluster* of two nodes (b1 standby leader
# streaming from A through a cross-region link the test controls, b2
# cascading from b1).  A writer commits numbered rows in A; the link is cut,
# then region A killed; region B goes to breach, the incident is declared
# there, B is promoted the Patroni way (standby_cluster taken out of its DCS
# config) through the gate, and the acknowledged rows B lacks are counted
# against the gate's estimate.  TwoRegion.pm kills every process by PID at
# the end, on failure and on Ctrl-C.
use strict;
use warnings;

use IO::Socket::INET;
use JSON::PP;
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time usleep);
use TwoRegion;

TwoRegion::install_signal_handlers();

my $rpo_max = 6;
my $sample = 1;
my $dir = PostgreSQL::Test::Utils::tempdir('two_region');
my $tr = TwoRegion->new(
	dir => $dir,
	scripts => "$ENV{TESTDIR}/patroni",
	params => {
		'tensafe_dr.rpo_target' => '3s',
		'tensafe_dr.rpo_max' => "${rpo_max}s",
		'tensafe_dr.promote_max_lag' => '5s',
		'tensafe_dr.incident_update_interval' => '3s',
		'tensafe_dr.webhook_backoff_base' => '200ms',
		'tensafe_dr.webhook_backoff_max' => '1s',
		'tensafe_dr.webhook_timeout' => '2s',
	});

# The notification receiver (test/webhook_receiver.py), killed by TwoRegion.
my $secret = 'a-long-test-secret-0123456789';
my $rport = PostgreSQL::Test::Cluster::get_free_port();
my $rlog = "$dir/received.jsonl";
$tr->spawn('receiver', "$dir/receiver.log", 'python3', "$ENV{TESTDIR}/test/webhook_receiver.py", $rport, $rlog);
sub received
{
	my @r;
	open my $fh, '<', $rlog or return ();
	while (my $line = <$fh>) { push @r, decode_json($line) }
	return @r;
}
sub received_for
{
	my ($type, $from) = @_;
	return grep { ($_->{headers}{'x-tensafe-event'} // '') eq $type && $_->{status} == 200
		&& (!defined $from || $_->{t} >= $from) } received();
}

my $t0 = time;
my $A = $tr->start_region_a;
# channels, escalation policy: on region A, replicated to region B
$A->sql('a1', qq{SELECT dr_webhook_add('ok', 'http://127.0.0.1:$rport/ok', '$secret');
	SELECT dr_webhook_add('esc', 'http://127.0.0.1:$rport/ok', '$secret', ARRAY['NOTHING_BY_TYPE']);
	UPDATE dr_escalation_policy SET response_time = '2 s', channel = NULL WHERE level = 1;
	UPDATE dr_escalation_policy SET response_time = '1 hour', channel = 'esc' WHERE level = 2;});
my $B = $tr->start_region_b;
pass(sprintf('two regions up in %.0f s: a1 leader, a2 replica; b1 standby leader through the link, b2 cascading from b1', time - $t0));
is($B->sql('b1', 'SELECT region FROM dr_status()'), 'us-west-2', 'region B nodes know their region');
$B->wait_for(sub { $B->sql($_, 'SELECT rpo_state FROM dr_status()') eq 'ok' or die for qw(b1 b2); 1 }, 60, 'region B ok');
pass('both region-B nodes ok');

###############################################################################
# Write load, then region A lost: the link cut, then every process of A killed.
###############################################################################
my $ackfile = "$dir/acked";
$tr->start_writer($A->{nodes}{a1}{port}, $ackfile);
$B->wait_for(sub { $B->sql('b2', 'SELECT count(*) FROM drill_rows') >= 100 }, 60, 'rows reach b2');
# The writer is held (SIGSTOP) at the cut: the gate's estimate is what
# region B missed when it last heard from A, and holds only if A stops
# writing then (bench/two_region_drill.pl cuts and kills with the writer
# running).  Region A still writes one thing during the partition: an event
# recorded after the split, which region B cannot have (reconciled at
# failback).
# (its whole process group: the psql it feeds would otherwise commit the
# INSERTs already in its pipe after the cut, and acknowledge them)
kill 'STOP', -$tr->{pids}{writer};
my $cut = $tr->cut_link;
$A->sql('a1', q{SELECT dr_record_event('OPS_NOTE_AFTER_SPLIT', '{"note": "written in us-east-1 after the cut"}')});
my $killed = $A->kill_all9;
kill 'CONT', -$tr->{pids}{writer};
note(sprintf('link cut, region A killed %.3f s later', $killed - $cut));
$B->wait_for(sub { !kill(0, $tr->{pids}{writer}) || waitpid($tr->{pids}{writer}, 1) > 0 }, 30, 'writer ended');
my $acked = $tr->acked($ackfile);
ok(scalar(keys %$acked) >= 100, scalar(keys %$acked) . ' rows acknowledged by region A');

###############################################################################
# Every region-B node reaches breach within one sample of its contact age
# passing rpo_max, with the right last contact; the cascade agrees.
###############################################################################
my %contact;
for my $n (qw(b1 b2))
{
	my $w = $B->wait_for(sub {
		$B->sql($n, "SELECT count(*) FROM dr_events WHERE event_type = 'RPO_BREACH' AND occurred_at > to_timestamp($cut)") >= 1
	}, 60, "$n in breach");
	my ($c, $late) = split /\|/, $B->sql($n, qq{
		SELECT extract(epoch FROM s.last_primary_contact),
		       extract(epoch FROM e.occurred_at - (s.last_primary_contact + s.rpo_max))
		  FROM dr_status() s,
		       LATERAL (SELECT occurred_at FROM dr_events WHERE event_type = 'RPO_BREACH'
		                   AND occurred_at > to_timestamp($cut) ORDER BY occurred_at LIMIT 1) e});
	$contact{$n} = $c;
	note(sprintf('%s: last contact %.3f s before the cut; breach %.3f s after contact age passed rpo_max',
		$n, $cut - $c, $late));
	ok($late >= -0.05 && $late <= $sample + 0.25,
		sprintf('%s: breach %.3f s after contact age passed rpo_max (one sample: %d s)', $n, $late, $sample));
	# the newest heartbeat before the cut (one a second), dated when the
	# worker's look at the WAL found it: up to one look (DR_CONTACT_SCAN_MS,
	# 200 ms, contact.c; later on a loaded machine) after it arrived, so
	# possibly just after the cut
	ok($c <= $cut + 0.5 && $c >= $cut - 2.5,
		sprintf('%s: last_primary_contact %.3f s before the cut (heartbeat 1 s, dated within one 200 ms look)', $n, $cut - $c));
	is($B->sql($n, 'SELECT rpo_state FROM dr_status()'), 'breach', "$n: rpo_state breach");
}
ok(abs($contact{b2} - $contact{b1}) < 1.0,
	sprintf('cascade b2 agrees with its upstream b1 on the last primary contact (%.3f s apart)', abs($contact{b2} - $contact{b1})));
is($B->sql('b2', 'SELECT pg_is_in_recovery()'), 't', 'no writable node anywhere (b2)');
is($B->sql('b1', 'SELECT pg_is_in_recovery()'), 't', 'no writable node anywhere (b1)');

###############################################################################
# Declare on the DR side: journalled on the standby leader.
###############################################################################
my $t_declare = time;
is($B->sql('b1', "SELECT coalesce(dr_declare(3, 'region us-east-1 lost')::text, 'journalled')"), 'journalled',
	'dr_declare(3) on the standby leader: journalled');
is($B->sql('b1', "SELECT count(*) FROM dr_events WHERE event_type = 'DR_INITIATED' AND pending"), 1,
	'DR_INITIATED pending in b1 journal');
my $declared_start = $B->sql('b1', q{SELECT extract(epoch FROM (details->>'started_at')::timestamptz) FROM dr_events WHERE event_type = 'DR_INITIATED' AND pending});
ok(abs($declared_start - $contact{b1}) < 0.001,
	sprintf('the declaration starts at b1 last_primary_contact (%.3f s before the cut), not at the declaration', $cut - $declared_start));

# Notifications go out from region B while nothing is writable: the
# declaration, updates every incident_update_interval (3 s), escalation.
my $from_b = sub { my ($r) = @_; my $b = decode_json($r->{body}); return ($b->{node} // '') eq 'b1' };
$B->wait_for(sub { grep { $from_b->($_) } received_for('DR_INITIATED') }, 30, 'DR_INITIATED delivered from b1');
pass('DR_INITIATED delivered from b1 (standby leader) with no writable node');
my ($init) = grep { $from_b->($_) } received_for('DR_INITIATED');
my $start_txt = POSIX::strftime('%Y-%m-%d %H:%M:%S UTC', gmtime(int($declared_start)));
like(decode_json($init->{body})->{text}, qr/Start Time: \Q$start_txt\E/, "the 5.1 notice gives the outage start ($start_txt), not the declaration");
$B->wait_for(sub { (grep { $from_b->($_) } received_for('INCIDENT_UPDATE')) >= 2 }, 40, 'two updates from b1');
my @upd = grep { $from_b->($_) } received_for('INCIDENT_UPDATE');
my $gap = $upd[1]{t} - $upd[0]{t};
# due every 3 s, looked for every 5 s (the notifier's housekeeping period)
ok($gap >= 2.5 && $gap <= 10.5, sprintf('incident updates from b1 every incident_update_interval (3 s, checked every 5 s): %.1f s apart', $gap));
$B->wait_for(sub { grep { $from_b->($_) } received_for('ESCALATED') }, 30, 'escalation from b1');
my ($esc) = grep { $from_b->($_) } received_for('ESCALATED');
is(decode_json($esc->{body})->{channel}, 'esc', 'unacknowledged: escalated from b1 to the level-2 channel');
is($B->sql('b1', 'SELECT pg_is_in_recovery()'), 't', '... all while b1 is still a standby');

###############################################################################
# Promote region B the Patroni way: take standby_cluster out of its config.
###############################################################################
my @pending = split /\n/, $B->sql('b1', q{SELECT event_type || '|' || occurred_at FROM dr_events WHERE pending ORDER BY occurred_at});
ok(scalar(@pending) >= 2, scalar(@pending) . ' events journalled on b1 during the outage');
my $t_promote = time;
my $cfg = $B->patch_config('b1', { standby_cluster => undef });
ok(!exists $cfg->{standby_cluster}, 'standby_cluster taken out of region B DCS config');
$B->wait_for(sub { $B->is_leader('b1') && $B->sql('b1', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 90, 'b1 writable');
my $writable = time;
note(sprintf('region B writable %.1f s after the cut (%.1f s after the config change)', $writable - $cut, $writable - $t_promote));
pass(sprintf('region B writable %.1f s after the cut', $writable - $cut));
$B->wait_for(sub { $B->sql('b1', 'SELECT pending_events FROM dr_status()') == 0 }, 60, 'b1 journal flushed');
# the worker records PROMOTION_DETECTED at its first sample as a primary,
# which may come after the flush
my $detected = "SELECT count(*) FROM dr_events WHERE event_type = 'PROMOTION_DETECTED' AND occurred_at > to_timestamp($t_promote)";
$B->wait_for(sub { $B->sql('b1', $detected) >= 1 }, 30, 'PROMOTION_DETECTED on b1');

my $check = $B->sql('b1', q{SELECT (details->>'promotable') || '|' || (details->>'loss_s') || '|' || (details->>'reason')
	FROM dr_events WHERE event_type = 'PROMOTE_CHECK' AND NOT pending ORDER BY occurred_at DESC LIMIT 1});
my ($promotable, $estimate, $reason) = split /\|/, $check // '';
is($promotable, 'true', "the gate ran on b1 and recorded its verdict: $reason");
my $dup = 0;
for my $p (@pending)
{
	my ($type, $at) = split /\|/, $p, 2;
	my $n = $B->sql('b1', "SELECT count(*) FROM dr_event_log WHERE event_type = '$type' AND occurred_at = '$at'");
	$dup++ if $n != 1;
	diag("$type at $at landed $n times") if $n != 1;
}
is($dup, 0, 'every event journalled on b1 during the outage landed exactly once');
is($B->sql('b1', q{SELECT count(*) FROM dr_incidents WHERE level = 3 AND summary = 'region us-east-1 lost' AND resolved_at IS NULL}), 1,
	'the journalled declaration became an open incident');
my $incident = $B->sql('b1', q{SELECT id FROM dr_incidents WHERE summary = 'region us-east-1 lost'});
ok(abs($B->sql('b1', "SELECT extract(epoch FROM started_at) FROM dr_incidents WHERE id = $incident") - $contact{b1}) < 0.001,
	'the incident started at the last primary contact (through the flush)');

# 5.2: the DR ACTIVATED notice, from the promoted b1
$B->wait_for(sub { grep { $from_b->($_) } received_for('PROMOTION_DETECTED') }, 30, 'DR ACTIVATED notice');
my ($act) = grep { $from_b->($_) } received_for('PROMOTION_DETECTED');
like(decode_json($act->{body})->{subject}, qr/^\[DR ACTIVATED\] TenSafe Failover to DR Region/, 'runbook 5.2 DR ACTIVATED notice sent on promotion');
is($B->sql('b1', $detected), 1, 'PROMOTION_DETECTED recorded once on b1');
# b1 housekeeps as a primary now: an update after promotion, and nothing
# sent twice (the flushed updates and escalation were delivered from b1)
my $t_flushed = time;
$B->wait_for(sub { received_for('INCIDENT_UPDATE', $t_flushed) >= 1 }, 30, 'an update from the promoted b1');
my %n;
$n{ $_->{headers}{'idempotency-key'} }++ for grep { $_->{status} == 200 } received();
is(scalar(grep { $n{$_} > 1 } keys %n), 0, 'no notification delivered twice (' . scalar(keys %n) . ' keys)');
is(scalar(grep { $from_b->($_) } received_for('ESCALATED')), 1, 'escalated once: not again after promotion');
is($B->sql('b1', "SELECT count(*) FROM dr_event_log WHERE event_type = 'ESCALATED' AND incident_id = $incident"), 1,
	'the escalation journalled on the standby landed in the incident');

###############################################################################
# Data loss, measured: acknowledged rows region B lacks, against the gate.
###############################################################################
my %have = map { $_ => 1 } split /\n/, $B->sql('b1', 'SELECT id FROM drill_rows');
my @lost = sort { $a <=> $b } grep { !$have{$_} } keys %$acked;
my ($newest_b) = $B->sql('b1', 'SELECT extract(epoch FROM max(at)) FROM drill_rows');
my $last_acked = (sort { $b <=> $a } values %$acked)[0];
my $truth = @lost ? $last_acked - $newest_b : 0;
note(sprintf('data loss: %d acknowledged rows (ids %s..%s), %.3f s of commits; gate estimate %s s',
	scalar(@lost), $lost[0] // '-', $lost[-1] // '-', $truth, $estimate));
ok(defined $estimate && $estimate >= $truth,
	sprintf('gate estimate %.3f s is not below the measured loss %.3f s (%d rows)', $estimate // -1, $truth, scalar(@lost)));
my $gaps = grep { $_ < ($lost[0] // 9e18) && !$have{$_} } keys %$acked;
is($gaps, 0, 'no acknowledged row older than the newest one region B holds is missing');

# b2 follows its new leader on the new timeline
$B->wait_for(sub { $B->is_replica('b2') && $B->sql('b2', 'SELECT timeline FROM dr_status()') == $B->sql('b1', 'SELECT timeline FROM dr_status()') }, 90,
	'b2 follows b1 on its new timeline');
pass('b2 follows the promoted b1 on its new timeline');

# RTO from the outage start, not from the declaration
# (one clock: the server's resolution lies between the two readings here)
my $t_resolve = time;
my ($rto, $rto_state) = split /\|/, $B->sql('b1', "SELECT extract(epoch FROM rto) || '|' || rto_state FROM dr_resolve($incident, 'failed over to us-west-2')");
my $resolved = time;
ok($rto >= $t_resolve - $contact{b1} && $rto <= $resolved - $contact{b1},
	sprintf('dr_resolve: RTO %.1f s measured from the outage start (declared %.1f s after it)', $rto, $t_declare - $contact{b1}));
note(sprintf('RTO %.1f s = %.5f of the 1 h target (%s)', $rto, $rto / 3600, $rto_state));
$B->wait_for(sub { grep { $from_b->($_) } received_for('DR_COMPLETE') }, 30, 'DR_COMPLETE');
pass('DR_COMPLETE sent from b1');

###############################################################################
# Failback (3.2).  Step 1: what the old primary wrote after the split is
# reconciled (recorded in region B as lost) before region A is re-cloned.
###############################################################################
my $old = "$dir/a/a1";
my $oport = PostgreSQL::Test::Cluster::get_free_port();
my $pgctl = "$PatroniCluster::bindir/pg_ctl";
system($pgctl, '-D', "$old/data", '-w', '-t', '120', '-l', "$old/standalone.log", '-o',
	"-p $oport -c listen_addresses=127.0.0.1 -c unix_socket_directories=$old -c tensafe_dr.database=postgres", 'start') == 0
  or die 'could not start the old region-A primary alone';
$tr->{pids}{old_a1} = $A->postmaster_pid('a1');    # killed at the end if the test dies first
my $oldsql = sub {
	my ($q) = @_;
	my ($out, $err);
	IPC::Run::run([ "$PatroniCluster::bindir/psql", '-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', $oport,
		'-U', 'postgres', '-d', 'postgres', '-c', $q ], '>', \$out, '2>', \$err, IPC::Run::timeout(30)) or die $err;
	chomp $out;
	return $out;
};
my $max_b = $B->sql('b1', 'SELECT max(id) FROM drill_rows WHERE id < 1000000');
my @old_extra = split /\n/, $oldsql->("SELECT id FROM drill_rows WHERE id > $max_b ORDER BY id");
my %old_extra = map { $_ => 1 } @old_extra;
is(scalar(grep { !$old_extra{$_} } @lost), 0,
	sprintf('the old primary holds every lost acknowledged row (%d rows past region B, %d acknowledged)', scalar(@old_extra), scalar(@lost)));
my @old_events = split /\n/, $oldsql->(sprintf(q{SELECT event_type || '|' || occurred_at || '|' || details::text FROM dr_event_log
	WHERE occurred_at > to_timestamp(%.6f) - interval '2 s' AND occurred_at <= to_timestamp(%.6f) ORDER BY occurred_at}, $contact{b1}, $killed));
my @split_events;
for my $e (@old_events)
{
	my ($type, $at) = split /\|/, $e;
	push @split_events, $e
	  if $B->sql('b1', "SELECT count(*) FROM dr_event_log WHERE event_type = '$type' AND occurred_at = '$at'") == 0;
}
system($pgctl, '-D', "$old/data", '-w', '-m', 'immediate', 'stop') == 0 or die 'could not stop the old primary';
delete $tr->{pids}{old_a1};
ok(scalar(grep { /^OPS_NOTE_AFTER_SPLIT\|/ } @split_events) == 1,
	scalar(@split_events) . ' events the old primary wrote after the split found, its OPS_NOTE_AFTER_SPLIT among them');
my $lost_json = JSON::PP->new->canonical->encode({ lost_rows => scalar(@old_extra), lost_acknowledged_rows => scalar(@lost),
	lost_events => [ map { my ($t, $at) = split /\|/; { event_type => $t, occurred_at => $at } } @split_events ] });
$lost_json =~ s/'/''/g;
$B->sql('b1', "SELECT dr_record_event('FAILBACK_RECONCILED', '$lost_json')");
is($B->sql('b1', q{SELECT jsonb_array_length(details->'lost_events') FROM dr_event_log WHERE event_type = 'FAILBACK_RECONCILED'}),
	scalar(@split_events), 'recorded in region B as lost, never silently dropped');

# Writes go on in region B during the failback.
my $ackfile2 = "$dir/acked_b";
$tr->start_writer($B->{nodes}{b1}{port}, $ackfile2, 1_000_000, 'writer_b');

# Step 1 (re-clone) and 2: region A rebuilt as a standby cluster of B, lag < 1 s.
my $t_fb = time;
my $A2 = $tr->rebuild_region_a('b1');
pass(sprintf('region A re-cloned as a standby cluster of region B in %.0f s', time - $t_fb));
is($B->sql('b1', q{SELECT dr_wait_for_lag('1 s', '60 s')}), 't', 'every standby of b1 (b2, and a1 across the link) within 1 s');

# Step 3: the maintenance notice.
$B->sql('b1', q{SELECT dr_record_event('MAINTENANCE_NOTICE', '{"summary": "Failback to primary region. Expected duration: 15 minutes."}')});
$B->wait_for(sub { received_for('MAINTENANCE_NOTICE') }, 30, 'maintenance notice');
like(decode_json((received_for('MAINTENANCE_NOTICE'))[0]{body})->{subject}, qr/^\[MAINTENANCE\]/, 'runbook 3.2 maintenance notice sent');

# Step 4: fence B, wait for the final LSN in A, switch back, unfence.
$B->wait_for(sub { $B->sql('b1', 'SELECT count(*) FROM drill_rows WHERE id >= 1000000') >= 50 }, 60, 'writes in region B');
my $t_fence = time;
$B->sql('b1', q{SELECT dr_fence('failback to us-east-1')});
my $final = $B->sql('b1', q{SELECT details->>'flush_lsn' FROM dr_event_log WHERE event_type = 'FENCED' ORDER BY id DESC LIMIT 1});
$B->wait_for(sub { waitpid($tr->{pids}{writer_b}, 1) > 0 }, 30, 'region-B writer refused by the fence');
delete $tr->{pids}{writer_b};
my $acked_b = $tr->acked($ackfile2);
is($A2->sql('a1', "SELECT dr_wait_for_lsn('$final', '60 s')"), 't', "a1 replayed B's final LSN $final");
$A2->patch_config('a1', { standby_cluster => undef });
$A2->wait_for(sub { $A2->is_leader('a1') && $A2->sql('a1', 'SELECT NOT pg_is_in_recovery()') eq 't' }, 90, 'a1 writable');
my $t_back = time;
pass(sprintf('switched back: a1 writable %.1f s after the fence (failback %.0f s from the re-clone)', $t_back - $t_fence, $t_back - $t_fb));
$A2->wait_for(sub { $A2->sql('a1', "SELECT count(*) FROM dr_events WHERE event_type = 'PROMOTE_CHECK' AND (details->>'promotable')::boolean AND NOT pending") >= 1 },
	30, 'gate verdict on a1');
pass('the gate ran on a1 and let it promote');
my %have_a = map { $_ => 1 } split /\n/, $A2->sql('a1', 'SELECT id FROM drill_rows WHERE id >= 1000000');
my @lost_fb = grep { !$have_a{$_} } keys %$acked_b;
is(scalar(@lost_fb), 0, sprintf('no acknowledged write lost in the failback (%d acknowledged in region B)', scalar(keys %$acked_b)));
is($A2->sql('a1', 'SELECT count(*) FROM drill_rows'), $B->sql('b1', 'SELECT count(*) FROM drill_rows'),
	'region A holds exactly what fenced region B holds');

# Step 4 done: DR_FAILBACK_COMPLETE from a1, with the figures of the log that
# came across from b1; the incident's RTO stays what dr_resolve() judged.
$A2->wait_for(sub { $A2->sql('a1', q{SELECT count(*) FROM dr_event_log WHERE event_type = 'PROMOTION_DETECTED' AND node_name = 'a1'}) >= 1 },
	30, 'PROMOTION_DETECTED on a1');
my $t_detected = time;
ok($A2->sql('a1', q{SELECT dr_failback_complete('Failback to us-east-1 complete.')}) =~ /^\d+$/, 'dr_failback_complete() on a1');
my $fbc = decode_json($A2->sql('a1', q{SELECT details FROM dr_event_log WHERE event_type = 'DR_FAILBACK_COMPLETE'}));
is(join(' ', map { $fbc->{$_} // 'null' } qw(incident fenced_node)), "$incident b1",
	'DR_FAILBACK_COMPLETE names the regional incident and the fenced DR primary');
# fenced_at is after $t_fence, and a1's PROMOTION_DETECTED was in the log by $t_detected
ok($fbc->{write_pause_seconds} > 0 && $fbc->{write_pause_seconds} <= $t_detected - $t_fence,
	sprintf('write pause %.3f s measured from the log (the test saw a1 writable %.1f s after calling dr_fence)',
		$fbc->{write_pause_seconds}, $t_back - $t_fence));
ok(defined $fbc->{maintenance_notice_at}, 'the maintenance notice before the fence is cited');
is($A2->sql('a1', "SELECT extract(epoch FROM rto) FROM dr_incidents WHERE id = $incident"), $rto,
	'the incident keeps the RTO of its resolution');
ok(abs($fbc->{incident_rto_seconds} - $rto) <= 0.0005, "and the event cites it ($fbc->{incident_rto_seconds} s)");
my $from_a = sub { my ($r) = @_; my $b = decode_json($r->{body}); return ($b->{node} // '') eq 'a1' };
$A2->wait_for(sub { grep { $from_a->($_) } received_for('DR_FAILBACK_COMPLETE') }, 30, 'DR_FAILBACK_COMPLETE');
my ($fbn) = grep { $from_a->($_) } received_for('DR_FAILBACK_COMPLETE');
like(decode_json($fbn->{body})->{subject}, qr/^\[COMPLETE\] TenSafe Failback/, 'the failback-complete notice sent from a1');
is($A2->sql('a1', q{SELECT dr_failback_complete()}, 1), undef, 'a second failback of the incident is refused');
my %complete_keys = map { $_->{headers}{'idempotency-key'} => 1 } received_for('DR_COMPLETE');
is(scalar(keys %complete_keys), 1, 'DR_COMPLETE went out for one event only, the resolution');

# Region B follows region A again (a standby cluster), unfenced.
my $ab = $tr->start_link($A2->{nodes}{a1}{port}, 'link_ab');
$B->patch_config('b1', { standby_cluster => { host => '127.0.0.1', port => $ab, create_replica_methods => ['basebackup'] } });
$B->wait_for(sub { $B->rest('b1', '/standby-leader')->{status} == 200 && TwoRegion::upstream_port($B, 'b1') > 0 }, 150,
	'b1 standby leader following region A');
pass('region B is a standby cluster of region A again');
$B->sql('b1', 'SELECT dr_unfence()') if $B->sql('b1', 'SELECT fenced FROM dr_status()') eq 't';
is($B->sql('b1', 'SELECT fenced FROM dr_status()'), 'f', 'b1 unfenced');
diag(sprintf('FIGURES failback: re-clone->switched back %.1f s, fence->A writable %.1f s', $t_back - $t_fb, $t_back - $t_fence));

diag(sprintf('FIGURES cut->writable %.1f s; loss %d rows / %.3f s; estimate %s s; RTO %.1f s (%.5f of 1 h)',
	$writable - $cut, scalar(@lost), $truth, $estimate, $rto, $rto / 3600));
$tr->stop_all;
done_testing();
