/** The consoles' `stats` command: its arguments, and the snapshot for people and as JSON. */
import test from 'ava';
import { UsageError } from '../lib/cli/args.js';
import { parseCommand } from '../lib/cli/commands.js';
import { parsePeerCommand, parseTrackerCommand } from '../lib/cli/peer-commands.js';
import { human } from '../lib/cli/printer.js';
import { humanFiler } from '../lib/cli/filer-events.js';
import { humanStats, statsEvent } from '../lib/cli/stats.js';
import { HubTally, RefusalReason } from '../lib/hub/hub-stats.js';
import { CloseReasonKind } from '../lib/connection/close-reason.js';

function snapshot() {
  const tally = new HubTally();
  tally.closed(CloseReasonKind.PeerClosed, { id: 'c1', bytesIn: 1500, bytesOut: 20, messagesIn: 3, messagesOut: 1, queuedBytes: 0, rtt: undefined, closed: true });
  tally.closed(CloseReasonKind.FrameTimeout, { id: 'c2', bytesIn: 0, bytesOut: 0, messagesIn: 0, messagesOut: 0, queuedBytes: 0, rtt: undefined, closed: true });
  tally.refused(RefusalReason.MaxConnections);
  tally.refused(RefusalReason.MaxConnections);
  return tally.snapshot(2, 1, [{ id: 'c3', bytesIn: 100, bytesOut: 40, messagesIn: 1, messagesOut: 2, queuedBytes: 40, rtt: undefined, closed: false }], 40);
}

test('stats for people: traffic on the first line, then only the closes and refusals that happened', (t) => {
  t.is(
    humanStats(statsEvent(snapshot())),
    '2 open (1 authenticating), in 4 messages 1.6 kB, out 3 messages 60 B, 40 B queued\n' +
      'closes: peer-closed 1, frame-timeout 1; refusals: max-connections 2',
  );
  const empty = new HubTally().snapshot(0, 0, [], 0);
  t.is(humanStats({ ...statsEvent(empty), handshaking: 1 }), '0 open (0 authenticating, 1 handshaking), in 0 messages 0 B, out 0 messages 0 B, 0 B queued\ncloses: none; refusals: none');
});

test('the core and filer printers print the stats event the same way', (t) => {
  const event = statsEvent(snapshot());
  t.is(human(event), humanStats(event));
  t.is(humanFiler(event), humanStats(event));
});

test('the stats event holds every count of the snapshot, for one JSON line', (t) => {
  const stats = snapshot();
  const event = JSON.parse(JSON.stringify(statsEvent(stats)));
  t.deepEqual(event, { event: 'stats', ...stats });
  t.is(event.closes['peer-closed'], 1);
  t.is(event.refusals['max-connections'], 2);
});

test('every console reads stats, with --json for one JSON line, and nothing else after it', (t) => {
  t.deepEqual(parseCommand('stats', 'server'), { name: 'stats', json: false });
  t.deepEqual(parseCommand('stats --json', 'client'), { name: 'stats', json: true });
  t.deepEqual(parsePeerCommand('stats --json'), { name: 'stats', json: true });
  t.deepEqual(parseTrackerCommand(' stats '), { name: 'stats', json: false });
  for (const parse of [(l: string) => parseCommand(l, 'server'), parsePeerCommand, parseTrackerCommand]) {
    t.throws(() => parse('stats now'), { instanceOf: UsageError, message: 'usage: stats [--json]' });
  }
});
