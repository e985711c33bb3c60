/** Checks of the Redis entry point's options, made once, at construction. */
import { InvalidOptionError } from '../errors.js';

/**
 * A duration option: `fallback` when undefined, else a whole number of ms from 1 to 2^31 - 1 (the
 * longest timer Node.js keeps).
 * @throws InvalidOptionError naming the option and its value
 */
export function milliseconds(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 1 || value > 2 ** 31 - 1) {
    throw new InvalidOptionError(name, value, 'a whole number of milliseconds from 1 to 2147483647');
  }
  return value;
}
