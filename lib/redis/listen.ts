/** A server whose connection ids are unique in the cluster, joined to it through Redis: the usual way to start a bridged hub. */
import { Server, type ServerOptions } from '../hub/server.js';
import { RedisBridge, type RedisBridgeOptions } from './bridge.js';
import { clusterIdPrefix, newHubId } from './envelope.js';

/** The bridge's options; `hubId` defaults to a fresh random one. */
export type BridgedOptions = Omit<RedisBridgeOptions, 'hubId'> & { readonly hubId?: string; readonly timeoutMs?: number };

/** A listening server and its bridge. `server.stop()` closes the bridge too. */
export interface BridgedServer {
  readonly server: Server;
  readonly bridge: RedisBridge;
}

/**
 * Listens (with `idPrefix` set from the hub id, so that ids are unique in the cluster) and joins
 * the cluster; resolves once the bridge is online.
 * @throws (rejects) the listener's error; InvalidOptionError; an Error when Redis stays unreachable
 *   for `timeoutMs` (the server is stopped then)
 * @example
 * const { server, bridge } = await listenBridged({ host: '0.0.0.0', port: 5000 }, { url: 'redis://10.0.0.5:6379' });
 * await bridge.broadcast({ info: 'hello, cluster' });
 */
export async function listenBridged(serverOptions: ServerOptions, bridgeOptions: BridgedOptions = {}): Promise<BridgedServer> {
  const hubId = bridgeOptions.hubId ?? newHubId();
  const server = await Server.listen({ ...serverOptions, idPrefix: clusterIdPrefix(hubId) });
  try {
    return { server, bridge: await RedisBridge.connect(server, { ...bridgeOptions, hubId }) };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
