/** The implementations, by the name `--impl` takes, loaded only in the worker that runs one. */
import type { Implementation } from './types.js';

export const IMPLEMENTATIONS = {
  net: async () => (await import('./net.js')).implementation,
  'rx-tcp-hub': async () => (await import('./hub.js')).implementation,
  ws: async () => (await import('./ws.js')).implementation,
  axon: async () => (await import('./axon.js')).implementation,
  /**
   * A control, run only when named in `--impl`: reference (a)'s code in processes that have also
   * loaded rx-tcp-hub (and so RxJS) without using it. Its gap to `net` is what loading the library
   * costs the same code; its gap to `rx-tcp-hub`, what the library's own path costs.
   */
  'net-loaded': async () => {
    await import('./hub.js');
    return (await import('./net.js')).implementation;
  },
} satisfies Record<string, () => Promise<Implementation>>;

export type ImplName = keyof typeof IMPLEMENTATIONS;

/** The order of the report's rows; `net` is reference (a), every ratio is to it. */
export const IMPL_NAMES = Object.keys(IMPLEMENTATIONS) as ImplName[];
/** What a run measures unless `--impl` says otherwise: all but the control. */
export const DEFAULT_IMPLS: readonly ImplName[] = IMPL_NAMES.filter((name) => name !== 'net-loaded');
export const REFERENCE: ImplName = 'net';

export const IMPL_LABELS: Record<ImplName, string> = {
  net: 'net (ref a)',
  'rx-tcp-hub': 'rx-tcp-hub',
  ws: 'ws (ref b)',
  axon: 'axon (ref c)',
  'net-loaded': 'net, lib loaded',
};
