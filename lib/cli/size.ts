/**
 * Sizes on the command line: `64kb`, `1mb`, `1.5mb`, `1gb`; a bare number is bytes. The units are
 * binary, as the library's defaults are: 1kb is 1024 bytes, 1mb 1024 kb, 1gb 1024 mb. Case does not
 * matter, and `k`, `m`, `g`, `b`, `kib`, `mib`, `gib` are read too.
 */
import { UsageError } from './args.js';

const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/**
 * Parses a size into whole bytes (rounded down), from 0 to the largest safe integer.
 * @param what names the argument in the error message, e.g. `--max-content`.
 * @throws UsageError naming the flag and the offending text
 * @example
 * parseSize('64kb') // 65536
 * parseSize('1mb')  // 1048576
 * parseSize('100')  // 100
 */
export function parseSize(text: string, what = 'size'): number {
  const match = /^([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)$/i.exec(text.trim());
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  const bytes = match && unit !== undefined ? Math.floor(Number(match[1]) * unit) : NaN;
  if (!(bytes >= 0 && Number.isSafeInteger(bytes))) {
    throw new UsageError(`${what}: expected a size such as 64kb, 1mb or 1gb (a bare number is bytes; 1kb = 1024), got ${JSON.stringify(text)}`);
  }
  return bytes;
}
