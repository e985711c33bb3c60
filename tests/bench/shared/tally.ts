/**
 * The receiving side's checks: every message must carry the expected type, the next seq of its
 * connection, and content of the expected size (first and last byte included). A round ends when
 * the expected number of messages has arrived, whether they were right or not; wrong ones count
 * as errors, and the first one is described.
 */
import { FIRST_BYTE, LAST_BYTE, now } from './messages.js';

/** A received header: values are strings (the hub's has no `CL`, the references' do). */
export type ReceivedHeader = Readonly<Record<string, string | undefined>>;

export interface TallyResult {
  /** `now()` when the last expected message arrived. */
  readonly t1: number;
  readonly received: number;
  readonly errors: number;
  readonly firstError?: string;
}

/** One connection's checker: call it with each message it receives. */
export type Check = (header: ReceivedHeader, content: Buffer) => void;

interface Expected {
  type: string;
  size: number;
  target: number;
}

export class Tally {
  private expected: Expected = { type: '', size: 0, target: 0 };
  private readonly seqs: { next: number }[] = [];
  private received = 0;
  private errors = 0;
  private firstError: string | undefined;
  private done: ((result: TallyResult) => void) | undefined;
  private result: Promise<TallyResult> | undefined;

  /** Starts a round: each connection's seq restarts at 0; the round ends after `total` messages. */
  arm(type: string, size: number, total: number): void {
    this.expected = { type, size, target: total };
    for (const seq of this.seqs) seq.next = 0;
    this.received = 0;
    this.errors = 0;
    this.firstError = undefined;
    this.result = new Promise((resolve) => (this.done = resolve));
    if (total === 0) this.finish();
  }

  /** The end of the armed round. */
  collect(): Promise<TallyResult> {
    if (!this.result) throw new Error('collect() before arm()');
    return this.result;
  }

  /** A checker for one more connection. */
  connection(): Check {
    const seq = { next: 0 };
    this.seqs.push(seq);
    return (header, content) => {
      const expected = this.expected;
      const n = Number(header['seq']);
      if (header['type'] !== expected.type || n !== seq.next || content.length !== expected.size || !edgesOk(content)) {
        this.error(`got type=${header['type']} seq=${header['seq']} size=${content.length}; expected type=${expected.type} seq=${seq.next} size=${expected.size}`);
      }
      seq.next = Number.isSafeInteger(n) ? n + 1 : seq.next + 1;
      if (++this.received === expected.target) this.finish();
      else if (this.received > expected.target) this.error('a message beyond the round');
    };
  }

  private error(what: string): void {
    this.errors++;
    this.firstError ??= what;
  }

  private finish(): void {
    const result: TallyResult = { t1: now(), received: this.received, errors: this.errors };
    this.done?.(this.firstError === undefined ? result : { ...result, firstError: this.firstError });
    this.done = undefined;
  }
}

function edgesOk(content: Buffer): boolean {
  return content.length === 0 || (content[0] === FIRST_BYTE && content[content.length - 1] === LAST_BYTE);
}
