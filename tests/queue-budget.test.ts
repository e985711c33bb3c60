/**
 * The hub's budget for queued bytes over all connections, with fake holders driven by marbles on a
 * TestScheduler: charges pass until the budget would be passed, then the holders holding the most
 * are shed first, after learning what each really holds now.
 */
import test from 'ava';
import { Subject } from 'rxjs';
import { QueueBudget, type BudgetHolder } from '../lib/connection/queue-budget.js';
import { ErrorCode, HubQueueFullError } from '../lib/errors.js';
import { testScheduler } from './helpers/marbles.js';

class FakeHolder implements BudgetHolder {
  budgetedBytes = 0;
  queuedBytes = 0;
  constructor(
    readonly id: string,
    private readonly sheds: Subject<string>,
  ) {}

  shed(error: HubQueueFullError): void {
    this.queuedBytes = 0;
    this.sheds.next(`${this.id}:${error.code}`);
  }
}

function setUp(maxBytes: number) {
  const sheds = new Subject<string>();
  const holders = ['a', 'b', 'c'].map((id) => new FakeHolder(id, sheds));
  const budget = new QueueBudget(maxBytes, () => holders);
  /** A holder accepts `bytes`: charged, and held until the kernel takes them. */
  const charge = (holder: FakeHolder, bytes: number): string => {
    try {
      budget.charge(holder, bytes);
      holder.queuedBytes += bytes;
      return 'ok';
    } catch (error) {
      return error instanceof HubQueueFullError ? `refused:${error.shedId ?? '-'}` : String(error);
    }
  };
  return { sheds, holders: holders as [FakeHolder, FakeHolder, FakeHolder], budget, charge };
}

test('a charge that would pass the budget sheds the holders holding the most first, until it fits', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { sheds, holders, budget, charge } = setUp(100);
    const [a, b, c] = holders;
    const results: string[] = [];
    // a holds 40, b 30, then c asks for 50: a (the most) is shed, and c fits.
    cold('abc').subscribe((event) => results.push(event === 'a' ? charge(a, 40) : event === 'b' ? charge(b, 30) : charge(c, 50)));
    expectObservable(sheds).toBe('--x', { x: `a:${ErrorCode.HubQueueFull}` });
    scheduler.schedule(() => {
      t.deepEqual(results, ['ok', 'ok', 'ok']);
      t.is(budget.totalBytes, 80);
    }, 3);
  });
});

test('before shedding anyone the budget learns what each holder really holds: bytes the kernel took free room', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { sheds, holders, budget, charge } = setUp(100);
    const [a, b] = holders;
    // a charges 80; the kernel takes it all (k) without a's account; b's 50 fits once a is looked at.
    cold('a-kb').subscribe((event) => {
      if (event === 'a') charge(a, 80);
      if (event === 'k') a.queuedBytes = 0;
      if (event === 'b') t.is(charge(b, 50), 'ok');
    });
    expectObservable(sheds).toBe('');
    scheduler.schedule(() => t.is(budget.totalBytes, 50), 4);
  });
});

test('a holder that is itself the biggest is shed and its charge refused; a frame larger than the whole budget is refused and sheds nobody', (t) => {
  const scheduler = testScheduler(t);
  scheduler.run(({ cold, expectObservable }) => {
    const { sheds, holders, budget, charge } = setUp(100);
    const [a, b] = holders;
    const results: string[] = [];
    cold('abAB').subscribe((event) => {
      if (event === 'a') results.push(charge(a, 70));
      if (event === 'b') results.push(charge(b, 20));
      if (event === 'A') results.push(charge(a, 20)); // 110 > 100: a holds the most
      if (event === 'B') results.push(charge(b, 101)); // never fits
    });
    expectObservable(sheds).toBe('--x', { x: `a:${ErrorCode.HubQueueFull}` });
    scheduler.schedule(() => {
      t.deepEqual(results, ['ok', 'ok', 'refused:a', 'refused:-']);
      t.is(budget.totalBytes, 20);
    }, 4);
  });
});

test('a budget of 0 is off: nothing is ever shed', (t) => {
  const { holders, charge, budget } = setUp(0);
  t.is(charge(holders[0], 10 ** 9), 'ok');
  t.is(budget.totalBytes, 10 ** 9);
});
