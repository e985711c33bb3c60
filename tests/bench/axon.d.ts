/**
 * The little of axon 2.0.3 the benchmark uses (the package ships no types). `socks` is internal
 * but stable: the benchmark reads it to respect each socket's backpressure, which axon's
 * `send()` does not report.
 */
declare module 'axon' {
  import type { EventEmitter } from 'node:events';
  import type { Socket as NetSocket } from 'node:net';

  interface AxonSocket extends EventEmitter {
    /** The open TCP sockets, one per peer. */
    readonly socks: NetSocket[];
    bind(port: number, host?: string, done?: () => void): this;
    connect(port: number, host?: string, done?: () => void): this;
    close(done?: () => void): void;
    address(): { address: string; port: number; string: string } | undefined;
    set(name: string, value: unknown): this;
  }
  export interface PushSocket extends AxonSocket {
    send(...parts: Buffer[]): void;
  }
  export type PullSocket = AxonSocket;
  export interface PubSocket extends AxonSocket {
    send(...parts: Buffer[]): this;
  }
  export interface SubSocket extends AxonSocket {
    subscribe(pattern: string | RegExp): RegExp;
  }
  export interface ReqSocket extends AxonSocket {
    /** The last argument is the reply callback. */
    send(request: Buffer, reply: (...parts: Buffer[]) => void): void;
  }
  export type RepSocket = AxonSocket;

  interface Axon {
    socket(type: 'push'): PushSocket;
    socket(type: 'pull'): PullSocket;
    socket(type: 'pub'): PubSocket;
    socket(type: 'sub'): SubSocket;
    socket(type: 'req'): ReqSocket;
    socket(type: 'rep'): RepSocket;
  }
  const axon: Axon;
  export default axon;
}
