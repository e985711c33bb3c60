export * from './constants.js';
export * from './message.js';
export { encodeFrame, headerText } from './encode.js';
export { FrameDecoder, parseHeader, type DecoderOptions } from './decoder.js';
export { decodeFrames } from './decode-frames.js';
