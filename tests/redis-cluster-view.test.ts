/** The bridge's view of the other hubs' connections: envelopes change it at once, full reads reconcile it. */
import test from 'ava';
import { ClusterView, type ClusterEvent } from '../lib/redis/cluster-view.js';

const conn = (id: string, hubId = id.split('.')[0]!) => ({ id, hubId, local: false, addr: undefined });
const show = (events: readonly (ClusterEvent | undefined)[]) =>
  events.map((e) => (e ? `${e.type} ${e.connection.id}${e.type === 'close' ? ` ${e.reason}` : ''}` : 'none'));
const snapshot = (entries: Record<string, string[]>) =>
  new Map(Object.entries(entries).map(([hub, ids]) => [hub, new Map(ids.map((id) => [id, undefined]))]));

test('joined and left envelopes open and close connections once each', (t) => {
  const view = new ClusterView();
  t.deepEqual(show([view.add(conn('a.c1')), view.add(conn('a.c1')), view.add(conn('b.c1'))]), ['open a.c1', 'none', 'open b.c1']);
  t.deepEqual(show([view.remove('a.c1', 'closed'), view.remove('a.c1', 'closed')]), ['close a.c1 closed', 'none']);
  t.deepEqual(show(view.removeHub('b', 'hub-stopped')), ['close b.c1 hub-stopped']);
  t.deepEqual(view.connections, []);
});

test('a full read adds what the envelopes missed and expires the hubs whose entry is gone', (t) => {
  const view = new ClusterView();
  view.add(conn('a.c1'));
  view.add(conn('b.c1'));
  view.add(conn('b.c2'));
  const events = view.reconcile(snapshot({ a: ['a.c1', 'a.c2'], b: ['b.c1'] }), view.begin());
  t.deepEqual(show(events), ['close b.c2 closed', 'open a.c2']);
  t.deepEqual(show(view.reconcile(snapshot({ b: ['b.c1'] }), view.begin())), ['close a.c1 expired', 'close a.c2 expired']);
});

test('a full read does not undo what an envelope changed after the read began', (t) => {
  const view = new ClusterView();
  const epoch = view.begin();
  view.add(conn('a.c1')); // joined while the read was on its way: the read does not have it
  view.add(conn('a.c2'));
  view.remove('a.c2', 'closed'); // left while the read was on its way: the read still has it
  t.deepEqual(show(view.reconcile(snapshot({ a: ['a.c2'] }), epoch)), []);
  t.deepEqual(view.connections.map((c) => c.id), ['a.c1']);
  // The next read is newer than both envelopes, and is believed.
  t.deepEqual(show(view.reconcile(snapshot({ a: ['a.c2'] }), view.begin())), ['close a.c1 closed', 'open a.c2']);
});

test('hubs given time after Redis restarted empty keep their connections until they write their entry again', (t) => {
  const view = new ClusterView();
  view.add(conn('a.c1'));
  view.add(conn('b.c1'));
  t.deepEqual(show(view.reconcile(snapshot({ b: ['b.c1'] }), view.begin(), new Set(['a']))), []);
  t.deepEqual(view.hubs, new Set(['a', 'b']));
  t.deepEqual(show(view.reconcile(snapshot({ b: ['b.c1'] }), view.begin())), ['close a.c1 expired']);
});
