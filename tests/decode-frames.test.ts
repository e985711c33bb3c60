import test, { type ExecutionContext } from 'ava';
import { catchError, map, throwError, type Observable, type OperatorFunction } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import { decodeFrames, encodeFrame, type DecoderOptions, type HeaderInput, type Message } from '../lib/protocol/index.js';
import { ErrorCode, type RxTcpHubError } from '../lib/errors.js';

interface Plain {
  header: Record<string, string>;
  content: string;
}

/** Decodes, then makes messages and errors plain values that deepEqual can compare. */
const decodePlain =
  (options?: DecoderOptions): OperatorFunction<Uint8Array, Plain> =>
  (chunks$: Observable<Uint8Array>) =>
    chunks$.pipe(
      decodeFrames(options),
      map((m: Message) => ({ header: { ...m.header }, content: m.content.toString('hex') })),
      catchError((e: RxTcpHubError) => throwError(() => ({ name: e.name, code: e.code, message: e.message }))),
    );

const frameBytes = (header: HeaderInput, content?: Uint8Array): Buffer => Buffer.concat(encodeFrame(header, content));

const protocolError = (code: ErrorCode, message: string) => ({ name: 'ProtocolError', code, message });

const scheduler = (t: ExecutionContext) => new TestScheduler((actual, expected) => t.deepEqual(actual, expected));

const report = frameBytes({ ID: 'Stan', Port: 63330 });
const check = frameBytes({ TP: 'Check' });
const broadcast = frameBytes({ Broadcast: '' }, Buffer.from('Stan,127.0.0.1,63330'));
const values = {
  r: { header: { ID: 'Stan', Port: '63330' }, content: '' },
  c: { header: { TP: 'Check' }, content: '' },
  b: { header: { Broadcast: '' }, content: Buffer.from('Stan,127.0.0.1,63330').toString('hex') },
};

test('delivers each message at the frame where its last byte arrives', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const chunks = {
      a: report.subarray(0, 1),
      b: report.subarray(1, 10),
      c: Buffer.concat([report.subarray(10), check.subarray(0, 4)]),
      d: check.subarray(4),
    };
    const source = cold('    a-b-c-d-|', chunks);
    const expected = '      ----r-c-|';
    expectObservable(source.pipe(decodePlain())).toBe(expected, values);
  });
});

test('delivers every message a chunk completes at that chunk\'s frame', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const all = Buffer.concat([report, check, broadcast]);
    const source = cold('    -a------|', { a: all });
    const expected = '      -(rcb)--|';
    expectObservable(source.pipe(decodePlain())).toBe(expected, values);
  });
});

test('delivers content split across frames when the content completes', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const cut = broadcast.length - 10;
    const source = cold('    a--b|', { a: broadcast.subarray(0, cut), b: broadcast.subarray(cut) });
    const expected = '      ---b|';
    expectObservable(source.pipe(decodePlain())).toBe(expected, values);
  });
});

test('errors with a ProtocolError at the chunk that breaks the format', (t) => {
  scheduler(t).run(({ cold, expectObservable, expectSubscriptions }) => {
    const bad = Buffer.from([7, 0, ...Buffer.from('ID:Stan')]);
    const source = cold('    r-x-c-|', { r: report, x: bad, c: check });
    const expected = '      r-#';
    expectObservable(source.pipe(decodePlain())).toBe(
      expected,
      values,
      protocolError(ErrorCode.ContentLengthMissing, 'header has no CL (content length) pair'),
    );
    expectSubscriptions(source.subscriptions).toBe('^-!');
  });
});

test('errors when a frame announces more content than maxContentBytes, before the content arrives', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const [head, content] = encodeFrame({ Broadcast: '' }, Buffer.alloc(21));
    const source = cold('    a-b|', { a: head!, b: content! });
    const expected = '      #';
    expectObservable(source.pipe(decodePlain({ maxContentBytes: 20 }))).toBe(
      expected,
      undefined,
      protocolError(ErrorCode.ContentTooLarge, 'frame announces 21 content bytes; maxContentBytes is 20'),
    );
  });
});

test('errors with ERR_TRUNCATED_FRAME when the input completes inside a frame', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const source = cold('    r-a-|', { r: report, a: check.subarray(0, 5) });
    const expected = '      r---#';
    expectObservable(source.pipe(decodePlain())).toBe(
      expected,
      values,
      protocolError(ErrorCode.TruncatedFrame, 'input ended inside a frame, 10 byte(s) short'),
    );
  });
});

test('completes when the input completes on a frame boundary', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    expectObservable(cold<Uint8Array>('--|').pipe(decodePlain())).toBe('--|');
    expectObservable(cold('r-|', { r: report }).pipe(decodePlain())).toBe('r-|', values);
  });
});

test('passes an error of the source through unchanged', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const source = cold('    r-a-#', { r: report, a: check.subarray(0, 5) }, { name: 'Error', code: undefined, message: 'boom' });
    const expected = '      r---#';
    expectObservable(source.pipe(decodePlain())).toBe(expected, values, { name: 'Error', code: undefined, message: 'boom' });
  });
});

test('gives each subscription a decoder of its own', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const cut = 7;
    const source = cold('    a-b-c|', { a: report.subarray(0, cut), b: report.subarray(cut), c: check });
    const decoded$ = source.pipe(decodePlain());
    // The second subscription starts mid-frame of the first: a shared decoder would interleave them.
    expectObservable(decoded$, '^').toBe('--r-c|', values);
    expectObservable(decoded$, '-^').toBe('---r-c|', values);
  });
});

test('keeps a failed subscription from affecting another made with the same operator', (t) => {
  scheduler(t).run(({ cold, expectObservable }) => {
    const operator = decodePlain();
    const bad = cold('  x|', { x: Buffer.from([4, 0, ...Buffer.from('CL:x')]) });
    const good = cold(' -r-c|', { r: report, c: check });
    expectObservable(bad.pipe(operator)).toBe('#', undefined, protocolError(ErrorCode.ContentLengthInvalid, 'CL "x" is not a decimal number'));
    expectObservable(good.pipe(operator)).toBe('-r-c|', values);
  });
});
