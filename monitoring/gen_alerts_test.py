# Prints the issue-17 part of monitoring/alerts_test.yml from alerts.yml (run from the
# repository root; indent by two spaces and append after the hand-written tests):
#   python3 monitoring/gen_alerts_test.py | sed "s/^/  /"
import re, yaml, sys
rules = {r['alert']: r for g in yaml.safe_load(open('monitoring/alerts.yml'))['groups'] for r in g['rules']}
ID = 'node="p1",region="east",server="db1:5432"'
def s(name, labels, values):
    lab = ID + (',' + labels if labels else '')
    return {'series': f'{name}{{{lab}}}', 'values': values}
def render(t, labels):
    return re.sub(r'\{\{ \$labels\.(\w+) \}\}', lambda m: labels[m.group(1)], t)
def exp(alert, labels):
    r = rules[alert]
    lab = dict(labels); lab['severity'] = r['labels']['severity']
    return {'exp_labels': lab,
            'exp_annotations': {k: render(v, labels) for k, v in r['annotations'].items()}}
P1 = {'node': 'p1', 'region': 'east'}
# alert -> (series, quiet eval, firing eval, firing label sets)
cases = [
 ('TensafeDrRpoWarning', [s('tensafe_dr_rpo_state', 'state="warning"', '0 1 1 1 1')], '1m', '2m', [P1]),
 ('TensafeDrRpoBreach', [s('tensafe_dr_rpo_state', 'state="breach"', '0 0 1 1')], '1m', '2m', [P1]),
 ('TensafeDrWorkerDown', [s('tensafe_dr_worker_up', '', '1 0 0 0')], '1m', '2m', [P1]),
 ('TensafeDrSampleStale', [s('tensafe_dr_worker_last_sample_age_seconds', '', '1 1 120 180 240')], '2m', '3m', [P1]),
 ('TensafeDrArchiveFailing', [s('tensafe_dr_archive_failing', '', '0 1x10')], '5m', '6m', [P1]),
 ('TensafeDrArchiveExposureHigh', [s('tensafe_dr_archive_lag_seconds', '', '10 400x10'),
                                   s('tensafe_dr_rpo_target_seconds', '', '300x10')], '5m', '6m', [P1]),
 ('TensafeDrArchiveExposureBreach', [s('tensafe_dr_archive_lag_seconds', '', '400 1000x5'),
                                     s('tensafe_dr_rpo_max_seconds', '', '900x5')], '0m', '1m', [P1]),
 ('TensafeDrSlotRetaining', [s('tensafe_dr_slot_status', 'slot="s1",state="retaining"', '0 1x10'),
                             s('tensafe_dr_slot_status', 'slot="s1",state="ok"', '1 0x10')], '5m', '6m',
  [dict(P1, slot='s1')]),
 ('TensafeDrSlotLost', [s('tensafe_dr_slot_status', 'slot="s1",state="lost"', '0 1x3'),
                        s('tensafe_dr_slot_status', 'slot="s1",state="ok"', '1 0x3')], '0m', '1m',
  [dict(P1, slot='s1')]),
 ('TensafeDrBackupTooOld', [s('tensafe_dr_newest_verified_backup_age_seconds', '', '3600 90000x15'),
                            s('tensafe_dr_backup_max_age_seconds', '', '86400x15'),
                            {'series': 'tensafe_dr_backup_max_age_seconds{node="p2",region="west",server="db2:5432"}',
                             'values': '86400x15'}], '9m', '11m',
  [P1, {'node': 'p2', 'region': 'west'}]),
 ('TensafeDrDrillOverdue', [s('tensafe_dr_drill_overdue', 'kind="full_dr"', '0 1x3'),
                            s('tensafe_dr_drill_overdue', 'kind="tabletop"', '0 0x3')], '0m', '1m',
  [dict(P1, kind='full_dr')]),
 ('TensafeDrPostmortemDue', [s('tensafe_dr_postmortems_due', '', '0 1x3')], '0m', '1m', [P1]),
 ('TensafeDrNotificationsFailing', [s('tensafe_dr_notification_failures_total', 'channel="pager"', '0 0 0 1 1'),
                                    s('tensafe_dr_notification_failures_total', 'channel="quiet"', '0 0 0 0 0')],
  '2m', '4m', [dict(P1, channel='pager')]),
]
tests = []
for alert, series, quiet, fire, labsets in cases:
    tests.append({'interval': '1m', 'input_series': series, 'alert_rule_test': [
        {'eval_time': quiet, 'alertname': alert, 'exp_alerts': []},
        {'eval_time': fire, 'alertname': alert, 'exp_alerts': [exp(alert, l) for l in labsets]}]})
# a healthy node for half an hour: every alert of the file stays quiet
healthy = [
 s('tensafe_dr_rpo_state', 'state="ok"', '1x30'), s('tensafe_dr_rpo_state', 'state="warning"', '0x30'),
 s('tensafe_dr_rpo_state', 'state="breach"', '0x30'), s('tensafe_dr_rpo_state', 'state="unknown"', '0x30'),
 s('tensafe_dr_rpo_target_seconds', '', '300x30'), s('tensafe_dr_rpo_max_seconds', '', '900x30'),
 s('tensafe_dr_worker_up', '', '1x30'), s('tensafe_dr_worker_last_sample_age_seconds', '', '1x30'),
 s('tensafe_dr_archive_failing', '', '0x30'), s('tensafe_dr_archive_lag_seconds', '', '40x30'),
 s('tensafe_dr_archive_failures_total', '', '3x30'),
 s('tensafe_dr_slot_status', 'slot="s1",state="ok"', '1x30'),
 s('tensafe_dr_slot_status', 'slot="s1",state="retaining"', '0x30'),
 s('tensafe_dr_slot_status', 'slot="s1",state="unreserved"', '0x30'),
 s('tensafe_dr_slot_status', 'slot="s1",state="lost"', '0x30'),
 s('tensafe_dr_newest_verified_backup_age_seconds', '', '3600+60x30'),
 s('tensafe_dr_backup_max_age_seconds', '', '86400x30'),
 s('tensafe_dr_drill_overdue', 'kind="full_dr"', '0x30'), s('tensafe_dr_postmortems_due', '', '0x30'),
 s('tensafe_dr_notification_failures_total', 'channel="pager"', '5x30'),
 s('tensafe_dr_sync_stalled', '', '0x30'), s('tensafe_dr_sync_standbys_missing', '', '0x30'),
]
tests.append({'interval': '1m', 'input_series': healthy, 'alert_rule_test': [
    {'eval_time': t, 'alertname': a, 'exp_alerts': []} for a in sorted(rules) for t in ('10m', '30m')]})
out = yaml.safe_dump({'tests': tests}, sort_keys=False, width=1000, allow_unicode=True)
out = out.split('\n', 1)[1]   # drop "tests:"
sys.stdout.write(out)
