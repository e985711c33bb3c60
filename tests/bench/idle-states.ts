/**
 * CPU idle states, held off for the run where the machine lets us. A round trip on loopback is two
 * wake-ups of a sleeping process; on a virtual machine a CPU that went idle may first have to be
 * woken by the host, which adds tens of µs or not at random (here: 20 µs round trips in some rounds,
 * 95 µs in others). Linux's PM QoS interface keeps every CPU polling instead of halting for as long
 * as a process holds `/dev/cpu_dma_latency` open with 0 written to it (what latency tools such as
 * cyclictest do). It needs root; without it, the run goes on with idle states as they are and says so.
 * Only the latency scenario holds them off: a polling CPU can slow the busy one beside it, so the
 * throughput scenarios run with the machine's idle states as they are.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const PM_QOS = '/dev/cpu_dma_latency';

export interface IdleStatesHold {
  /** What the report says: `held off (...)` or `left on (why)`. */
  readonly description: string;
  /** Ends the hold (the kernel drops the request when the file closes); idempotent. */
  release(): void;
}

/** Holds idle states off until `release()` (or until this process exits). */
export function holdIdleStatesOff(): IdleStatesHold {
  const leftOn = (error: unknown): IdleStatesHold => ({
    description: `left on (${PM_QOS}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`,
    release: () => {},
  });
  let fd: number;
  try {
    fd = openSync(PM_QOS, 'w');
  } catch (error) {
    return leftOn(error);
  }
  try {
    writeSync(fd, Buffer.alloc(4)); // an int32 of µs: 0 allows no exit latency at all
  } catch (error) {
    closeSync(fd);
    return leftOn(error);
  }
  let open = true;
  return {
    description: `held off (${PM_QOS} = 0)`,
    release: () => {
      if (open) closeSync(fd);
      open = false;
    },
  };
}
