/** Adding up the snapshots of several hubs, as the filer peer does for its three. */
import test from 'ava';
import { HubTally, RefusalReason, sumStats } from '../lib/hub/hub-stats.js';
import { CloseReasonKind } from '../lib/connection/close-reason.js';

test('sumStats adds every count field by field and reason by reason, extra counts of a Server included', (t) => {
  const a = new HubTally();
  a.closed(CloseReasonKind.AuthFailed, { id: 'c1', bytesIn: 10, bytesOut: 5, messagesIn: 1, messagesOut: 1, queuedBytes: 0, rtt: undefined, closed: true });
  a.refused(RefusalReason.MaxConnections);
  const b = new HubTally();
  b.closed(CloseReasonKind.AuthFailed, { id: 'c1', bytesIn: 1, bytesOut: 2, messagesIn: 3, messagesOut: 4, queuedBytes: 0, rtt: undefined, closed: true });
  const server = { ...b.snapshot(1, 0, [], 7), handshaking: 2, refusals: { ...b.snapshot(0, 0, [], 0).refusals, 'handshake-timeout': 1 } };

  const sum = sumStats([a.snapshot(2, 1, [], 3), server]);
  t.like(sum, { connections: 3, authenticating: 1, bytesIn: 11, bytesOut: 7, messagesIn: 4, messagesOut: 5, queuedBytes: 10 });
  t.is(sum.closes[CloseReasonKind.AuthFailed], 2);
  t.is(sum.closes[CloseReasonKind.Local], 0);
  t.deepEqual(sum.refusals, { 'max-connections': 1, stopped: 0, 'handshake-timeout': 1 } as typeof sum.refusals);
  t.is((sum as typeof sum & { handshaking: number }).handshaking, 2);
});

test('sumStats of no snapshot is a snapshot of zeroes', (t) => {
  t.deepEqual(sumStats([]), new HubTally().snapshot(0, 0, [], 0));
});
