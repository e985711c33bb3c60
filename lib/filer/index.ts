/**
 * The filer: the seed's tracker (`ip_server`) and peer (`filer_client`) on rx-tcp-hub, with the
 * file transfer the seed never finished. The tracker vocabulary is in `vocabulary.ts`, the
 * transfer vocabulary in `transfer/PROTOCOL.md`.
 */
export {
  Tracker,
  DEFAULT_EXPIRE_MS,
  DEFAULT_REPORT_INTERVAL_MS,
  DEFAULT_TRACKER_PORT,
  type LeaveReason,
  type TrackedPeer,
  type TrackerConnection,
  type TrackerEvent,
  type TrackerListenOptions,
  type TrackerOptions,
  type TrackerSource,
} from './tracker.js';
export {
  Peer,
  DEFAULT_CHECK_AFTER_MS,
  DEFAULT_PEER_CHUNK_BYTES,
  DEFAULT_PEER_PORT,
  DEFAULT_PEER_WINDOW,
  DEFAULT_PORT_ATTEMPTS,
  parseAddress,
  type ConnectionDirection,
  type PeerConnection,
  type PeerEvent,
  type PeerOptions,
} from './peer.js';
export { AddressBook, type AddressBookChange } from './address-book.js';
export { listedPeers, type SharedPeerTable } from './shared-table.js';
export { listenFrom } from './listen.js';
export { SECRET_HEADER, sharedSecret, type SharedSecret } from './secret.js';
export { PortsInUseError, UnknownPeerError } from '../errors.js';
export {
  BROADCAST_HEADER,
  BROADCAST_KEY,
  REPORT_ID_KEY,
  REPORT_PORT_KEY,
  decodePeerList,
  encodePeerList,
  isBroadcast,
  listedHost,
  parseReport,
  peerIdProblem,
  reportHeader,
  type PeerEntry,
  type Report,
} from './vocabulary.js';
export { textMessage as chatMessage, messageText as chatText } from '../text/chat-text.js';
export * from './transfer/index.js';
