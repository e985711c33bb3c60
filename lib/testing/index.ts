/** `rx-tcp-hub/testing`: in-memory connections for testing code built on rx-tcp-hub without sockets. */
export { socketPair, MemorySocket, type SocketPairOptions } from './socket-pair.js';
export { MemoryHub, messengerPair, type MemoryPeerOptions } from './memory-hub.js';
export { faultPair, randomChunks, chunksOf, FaultSocket, type Chunking, type Delay, type FaultPairOptions } from './fault-pair.js';
