/**
 * CPU idle states, held off for the run where the machine lets us. A round trip on loopback is two
 * wake-ups of a sleeping process; on a virtual machine a CPU that went idle may first have to be
 * woken by the host, which adds tens of µs or not at random (here: 20 µs round trips in some rounds,
 * 95 µs in others). Linux's PM QoS interface keeps every CPU polling instead of halting for as long
 * as a process holds `/dev/cpu_dma_latency` open with 0 written to it (what latency tools such as
 * cyclictest do). It needs root; without it, the run goes on with idle states as they are and says so.
 */
import { closeSync, openSync, writeSync } from 'node:fs';

const PM_QOS = '/dev/cpu_dma_latency';

/** Holds idle states off until this process exits (the kernel drops the request with the file). */
export function holdIdleStatesOff(): string {
  let fd: number;
  try {
    fd = openSync(PM_QOS, 'w');
  } catch (error) {
    return `left on (${PM_QOS}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  const zero = Buffer.alloc(4); // an int32 of µs: 0 allows no exit latency at all
  try {
    writeSync(fd, zero);
  } catch (error) {
    closeSync(fd);
    return `left on (${PM_QOS}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`;
  }
  // The fd stays open on purpose: closing it ends the request.
  return `held off (${PM_QOS} = 0 for the run)`;
}
